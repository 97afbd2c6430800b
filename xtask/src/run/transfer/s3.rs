//! S3: objects listed in key order, copied server-side (with their
//! content type and metadata) or through memory across accounts, with the
//! last copied key as the checkpoint.

use super::{Checkpoint, Counts, Pair, Progress, Saver, Sides};
use crate::aws;
use anyhow::{bail, Context, Result};

#[derive(Debug, Clone)]
pub(super) struct Object {
    pub(super) key: String,
    pub(super) etag: String,
    pub(super) size: i64,
}

pub(super) async fn list_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    after: Option<&str>,
) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let mut request = s3.list_objects_v2().bucket(bucket);
        if let Some(after) = after {
            request = request.start_after(after);
        }
        if let Some(t) = token.take() {
            request = request.continuation_token(t);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(err) => bail!("cannot list {bucket}: {}", aws::error_message(&err)),
        };
        for o in page.contents() {
            objects.push(Object {
                key: o.key().unwrap_or_default().to_string(),
                etag: o.e_tag().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0),
            });
        }
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
            _ => return Ok(objects),
        }
    }
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes stay).
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) async fn copy_bucket(
    sides: &Sides,
    pair: &Pair,
    mut progress: Progress,
    overwrite: bool,
    saver: &Saver,
    checkpoint: &mut Checkpoint,
) -> Result<Counts> {
    let src = sides.from.s3();
    let dst = sides.to.s3();
    // One endpoint and account: the copy stays inside S3.
    let server_side = sides.from.target == sides.to.target;
    let mut counts = Counts::default();
    for object in list_objects(&src, &pair.from.physical_id, progress.after.as_deref()).await? {
        let existing = dst
            .head_object()
            .bucket(&pair.to.physical_id)
            .key(&object.key)
            .send()
            .await
            .ok();
        match existing {
            Some(head)
                if head.e_tag() == Some(object.etag.as_str())
                    && head.content_length() == Some(object.size) =>
            {
                counts.identical += 1
            }
            Some(_) if !overwrite => counts.conflicts += 1,
            _ => {
                if server_side {
                    let copied = dst
                        .copy_object()
                        .bucket(&pair.to.physical_id)
                        .key(&object.key)
                        .copy_source(format!(
                            "{}/{}",
                            pair.from.physical_id,
                            encode_key(&object.key)
                        ))
                        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
                        .send()
                        .await;
                    if let Err(err) = copied {
                        bail!(
                            "cannot copy s3://{}/{}: {}",
                            pair.from.physical_id,
                            object.key,
                            aws::error_message(&err)
                        );
                    }
                } else {
                    let got = match src
                        .get_object()
                        .bucket(&pair.from.physical_id)
                        .key(&object.key)
                        .send()
                        .await
                    {
                        Ok(got) => got,
                        Err(err) => bail!(
                            "cannot read s3://{}/{}: {}",
                            pair.from.physical_id,
                            object.key,
                            aws::error_message(&err)
                        ),
                    };
                    let content_type = got.content_type().map(str::to_string);
                    let metadata = got.metadata().cloned();
                    let body = got
                        .body
                        .collect()
                        .await
                        .context("reading an object")?
                        .into_bytes();
                    let put = dst
                        .put_object()
                        .bucket(&pair.to.physical_id)
                        .key(&object.key)
                        .body(body.into())
                        .set_content_type(content_type)
                        .set_metadata(metadata)
                        .send()
                        .await;
                    if let Err(err) = put {
                        bail!(
                            "cannot write s3://{}/{}: {}",
                            pair.to.physical_id,
                            object.key,
                            aws::error_message(&err)
                        );
                    }
                }
                counts.written += 1;
            }
        }
        progress.after = Some(object.key.clone());
        checkpoint.pairs.insert(pair.id(), progress.clone());
        saver.save(checkpoint)?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(encode_key("designs/a b+c.png"), "designs/a%20b%2Bc.png");
    }
}
