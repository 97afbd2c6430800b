//! The work one evaluation of variables may do, and why an evaluation is
//! refused. A [`Budget`] counts lookups ([`MAX_STEPS`]), bytes of value
//! built ([`MAX_BYTES`]) and levels of nesting ([`MAX_NESTING`]): far more
//! than any real file needs, reached in a moment by a hostile one. It keeps
//! the first [`Refusal`] — past the budget, a loop, a file that cannot be
//! read whole — and every later step returns it, so an evaluation ends at
//! once however deep it is.

use std::cell::{Cell, RefCell};

/// How many lookups (a variable resolved, a key followed, a value reused)
/// one evaluation may make: far more than any real value needs, reached in
/// a moment by a hostile one.
pub const MAX_STEPS: usize = 100_000;

/// How many bytes of values one evaluation may build: more than a whole
/// CloudFormation template may hold (1 MB), so no value that could deploy
/// is refused, while `${self:}` references that multiply at each level
/// (4 per level: 4^30 bytes at 30 levels) stop here.
pub const MAX_BYTES: usize = 1 << 20;

/// How deep nested variables are looked into: far beyond any real file,
/// short of what a hostile one could make the stack do.
pub(super) const MAX_NESTING: usize = 64;

/// Why an evaluation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The work budget is spent, or variables nest too deep.
    TooMuch(String),
    /// A variable reads itself back: each link of the loop (the variable,
    /// and where the value it reads is written), outermost first, ending
    /// where it started.
    Cycle {
        chain: Vec<String>,
        /// Whether the loop goes through `${file()}` (a loop of `self:`
        /// addresses alone is `validate`'s `circular-variable` rule).
        through_files: bool,
    },
    /// A file it reads cannot be read whole (the reader's error).
    Unreadable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooMuch(why) => f.write_str(why),
            Refusal::Cycle { chain, .. } => {
                write!(f, "it reads itself back: {}", chain.join(" → "))
            }
            Refusal::Unreadable(why) => write!(f, "it reads a file that cannot be read: {why}"),
        }
    }
}

/// One evaluation's work so far, and the refusal that ended it.
#[derive(Debug, Default)]
pub(super) struct Budget {
    steps: Cell<usize>,
    bytes: Cell<usize>,
    /// The first refusal: the whole evaluation is refused with it.
    refused: RefCell<Option<Refusal>>,
}

impl Budget {
    /// Refuses the evaluation; the first refusal is the one kept, and the
    /// one returned.
    pub(super) fn refuse(&self, refusal: Refusal) -> Refusal {
        self.refused.borrow_mut().get_or_insert(refusal).clone()
    }

    /// Counts one lookup at `depth` levels of nesting; `Err` once the
    /// budget is spent or the evaluation was refused already.
    pub(super) fn step(&self, depth: usize) -> Result<(), Refusal> {
        if let Some(refusal) = self.refused.borrow().clone() {
            return Err(refusal);
        }
        self.steps.set(self.steps.get() + 1);
        if self.steps.get() > MAX_STEPS {
            return Err(self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_STEPS} lookups"
            ))));
        }
        if depth > MAX_NESTING {
            return Err(self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_NESTING} levels of nesting"
            ))));
        }
        Ok(())
    }

    /// Counts `n` bytes of value built; `Err` once past [`MAX_BYTES`].
    pub(super) fn spend(&self, n: usize) -> Result<(), Refusal> {
        self.bytes.set(self.bytes.get().saturating_add(n));
        if self.bytes.get() > MAX_BYTES {
            return Err(self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_BYTES} bytes"
            ))));
        }
        Ok(())
    }

    /// The refusal that ended the evaluation, if one did.
    pub(super) fn take(&self) -> Option<Refusal> {
        self.refused.take()
    }
}
