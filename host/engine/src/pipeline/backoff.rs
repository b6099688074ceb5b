//! The one retry loop of a send: a try, and while it fails in a way worth another, the
//! target's backoff (or the receiver's `Retry-After`, when longer) before the next, up
//! to the target's `retry.attempts`. Reachability and each payload's delivery use it.

use std::time::Duration;

use hub_core::config::RetryConfig;

/// Calls `attempt(try_no)` (1, 2, …) until it succeeds, fails for good, or the tries are
/// used up. `again(&e)` says whether an error is worth another try: `None` if not, else
/// the wait the receiver asked for (zero when it named none). `waiting` hears of each
/// wait before it is slept (for the log).
pub(crate) fn with_retries<T, E>(
    retry: &RetryConfig,
    attempt: impl FnMut(u32) -> Result<T, E>,
    again: impl Fn(&E) -> Option<Duration>,
    waiting: impl FnMut(&E, u32, Duration),
) -> Result<T, E> {
    with_retries_after(retry, None, attempt, again, waiting)
}

/// [`with_retries`] where the first try was already made elsewhere (a pipelined request)
/// and failed with `first`: the next try is the second, after its backoff, and the
/// tries made in all stay within the target's `retry.attempts`.
pub(crate) fn with_retries_after<T, E>(
    retry: &RetryConfig,
    first: Option<E>,
    mut attempt: impl FnMut(u32) -> Result<T, E>,
    again: impl Fn(&E) -> Option<Duration>,
    mut waiting: impl FnMut(&E, u32, Duration),
) -> Result<T, E> {
    let mut tries = 1;
    let mut result = match first {
        Some(e) => Err(e),
        None => attempt(tries),
    };
    loop {
        match result {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Some(asked) = again(&e).filter(|_| tries < retry.attempts) else {
                    return Err(e);
                };
                tries += 1;
                let wait = retry.backoff(tries).max(asked);
                waiting(&e, tries, wait);
                std::thread::sleep(wait);
                result = attempt(tries);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn quick(attempts: u32) -> RetryConfig {
        RetryConfig {
            attempts,
            backoff_ms: 0,
            max_backoff_ms: 0,
        }
    }

    #[test]
    fn tries_until_success_within_the_attempts() {
        let mut calls = Vec::new();
        let r: Result<u32, &str> = with_retries(
            &quick(3),
            |n| {
                calls.push(n);
                if n < 3 { Err("busy") } else { Ok(n) }
            },
            |_| Some(Duration::ZERO),
            |_, _, _| {},
        );
        assert_eq!(r, Ok(3));
        assert_eq!(calls, [1, 2, 3]);
    }

    #[test]
    fn a_try_made_elsewhere_counts_against_the_attempts() {
        let mut calls = Vec::new();
        let r: Result<u32, &str> = with_retries_after(
            &quick(3),
            Some("busy"),
            |n| {
                calls.push(n);
                Err("busy")
            },
            |_| Some(Duration::ZERO),
            |_, _, _| {},
        );
        assert_eq!((r, calls), (Err("busy"), vec![2, 3]));
        let mut calls = 0;
        let r: Result<(), &str> = with_retries_after(
            &quick(1),
            Some("busy"),
            |_| {
                calls += 1;
                Ok(())
            },
            |_| Some(Duration::ZERO),
            |_, _, _| {},
        );
        assert_eq!((r, calls), (Err("busy"), 0));
    }

    #[test]
    fn stops_at_the_attempts_and_at_an_error_not_worth_another_try() {
        let mut calls = 0;
        let r: Result<(), &str> = with_retries(
            &quick(2),
            |_| {
                calls += 1;
                Err("busy")
            },
            |_| Some(Duration::ZERO),
            |_, _, _| {},
        );
        assert_eq!((r, calls), (Err("busy"), 2));
        let mut calls = 0;
        let r: Result<(), &str> = with_retries(
            &quick(5),
            |_| {
                calls += 1;
                Err("refused")
            },
            |_| None,
            |_, _, _| {},
        );
        assert_eq!((r, calls), (Err("refused"), 1));
    }

    #[test]
    fn waits_what_the_receiver_asked_when_longer_than_the_backoff() {
        let mut waits = Vec::new();
        let _: Result<(), &str> = with_retries(
            &quick(2),
            |_| Err("slow down"),
            |_| Some(Duration::from_millis(3)),
            |_, n, w| waits.push((n, w)),
        );
        assert_eq!(waits, [(2, Duration::from_millis(3))]);
    }
}
