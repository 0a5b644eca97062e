//! [`ScrubbedCause`]: an error's cause, kept as its scrubbed text when its text held a secret.

use std::fmt;

use super::Scrubber;

/// A cause whose text held a secret, kept as its scrubbed `Display` and `Debug` text, with its
/// own causes likewise.
pub(crate) struct ScrubbedCause {
    display: String,
    debug: String,
    source: Option<Box<ScrubbedCause>>,
}

impl ScrubbedCause {
    /// The scrubbed stand-in for `err` and its chain, or `None` when no level holds a secret.
    pub(crate) fn of(err: &(dyn std::error::Error + 'static), scrubber: &Scrubber) -> Option<Self> {
        let mut levels = Vec::new();
        let mut found = false;
        let mut next = Some(err);
        while let Some(e) = next {
            let (display, debug) = (e.to_string(), format!("{e:?}"));
            found |= scrubber.finds(&display) || scrubber.finds(&debug);
            levels.push((display, debug));
            next = e.source();
        }
        if !found {
            return None;
        }
        levels.into_iter().rev().fold(None, |source, (mut display, mut debug)| {
            scrubber.scrub_in_place(&mut display);
            scrubber.scrub_in_place(&mut debug);
            Some(Self {
                display,
                debug,
                source: source.map(Box::new),
            })
        })
    }
}

impl fmt::Display for ScrubbedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for ScrubbedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.debug)
    }
}

impl std::error::Error for ScrubbedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::secret::Scrubber;

    fn chain(err: &Error) -> String {
        let mut out = format!("{err} {err:?}");
        let mut next = std::error::Error::source(err);
        while let Some(cause) = next {
            out.push_str(&format!(" | {cause} {cause:?}"));
            next = cause.source();
        }
        out
    }

    #[test]
    fn every_cause_of_an_error_is_scrubbed() {
        let secret = "chain-secret-77";
        let mut scrubber = Scrubber::new();
        scrubber.add(secret);

        // A foreign cause whose text holds the secret, under a nested Aura error.
        let io = std::io::Error::other(format!("socket said {secret}"));
        let nested = Error::unavailable(format!("inner {secret}")).with_source(io);
        let mut err = Error::internal("outer")
            .with_context("token", secret)
            .with_source(nested);
        assert!(chain(&err).contains(secret));
        err.scrub_secrets(&scrubber);
        let text = chain(&err);
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("socket said [redacted]"), "{text}");
        // The nested Aura error is still one, scrubbed in place.
        let inner = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<Error>());
        assert_eq!(inner.map(Error::message), Some("inner [redacted]"));

        // A cause without a secret is kept as it is.
        let mut plain = Error::internal("x").with_source(std::io::Error::other("fine"));
        plain.scrub_secrets(&scrubber);
        let cause = std::error::Error::source(&plain).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert!(cause.is_some());
    }
}
