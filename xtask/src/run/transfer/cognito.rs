//! Cognito: users (with a forced password reset: passwords cannot be
//! migrated) and their groups.

use anyhow::{bail, Result};

use super::{Counts, Pair, Sides};
use crate::aws;

pub(super) async fn copy_users(sides: &Sides, pair: &Pair) -> Result<Counts> {
    use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
    let src = sides.from.cognito();
    let dst = sides.to.cognito();
    let mut counts = Counts::default();
    let mut token = None;
    loop {
        let page = match src
            .list_users()
            .user_pool_id(&pair.from.physical_id)
            .set_pagination_token(token.take())
            .send()
            .await
        {
            Ok(page) => page,
            Err(err) => bail!(
                "cannot list the users of {}: {}",
                pair.from.physical_id,
                aws::error_message(&err)
            ),
        };
        for user in page.users() {
            let attributes: Vec<AttributeType> = user
                .attributes()
                .iter()
                .filter(|a| a.name() != "sub")
                .cloned()
                .collect();
            // Pools that sign in by e-mail take the e-mail as user name.
            let email = attributes
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value())
                .map(str::to_string);
            let username = email
                .clone()
                .unwrap_or_else(|| user.username().unwrap_or_default().to_string());
            if dst
                .admin_get_user()
                .user_pool_id(&pair.to.physical_id)
                .username(&username)
                .send()
                .await
                .is_ok()
            {
                counts.identical += 1;
                continue;
            }
            let created = dst
                .admin_create_user()
                .user_pool_id(&pair.to.physical_id)
                .username(&username)
                .set_user_attributes(Some(attributes))
                .message_action(MessageActionType::Suppress)
                .send()
                .await;
            if let Err(err) = created {
                bail!(
                    "cannot create user {username} in {}: {}",
                    pair.to.physical_id,
                    aws::error_message(&err)
                );
            }
            counts.written += 1;
            let groups = src
                .admin_list_groups_for_user()
                .user_pool_id(&pair.from.physical_id)
                .username(user.username().unwrap_or_default())
                .send()
                .await;
            for group in groups.map(|g| g.groups().to_vec()).unwrap_or_default() {
                let Some(name) = group.group_name() else {
                    continue;
                };
                let _ = dst
                    .create_group()
                    .user_pool_id(&pair.to.physical_id)
                    .group_name(name)
                    .set_description(group.description().map(str::to_string))
                    .send()
                    .await;
                if let Err(err) = dst
                    .admin_add_user_to_group()
                    .user_pool_id(&pair.to.physical_id)
                    .username(&username)
                    .group_name(name)
                    .send()
                    .await
                {
                    bail!(
                        "cannot add {username} to group {name}: {}",
                        aws::error_message(&err)
                    );
                }
            }
        }
        match page.pagination_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(counts),
        }
    }
}
