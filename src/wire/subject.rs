//! Subjects: where each event is published, and the rule that the subject's LPA
//! token equals the envelope's `lpa`.

use crate::domain::event::Envelope;
use crate::domain::reject::{RejectCode, Rejection};

/// Subject for an event: `neighbourhood.events.<lpa>.<type>`.
pub fn subject_for(lpa: &str, event_type: &str) -> String {
    format!("neighbourhood.events.{lpa}.{event_type}")
}

/// The `<lpa>` token of an events subject, if it has the contract's shape.
pub fn lpa_of_subject(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("neighbourhood.events.")
        .and_then(|rest| rest.split('.').next())
        .filter(|s| !s.is_empty())
}

/// The contract requires the envelope's `lpa` to equal the subject's token.
pub fn check_subject(subject: &str, env: &Envelope) -> Result<(), Rejection> {
    match lpa_of_subject(subject) {
        Some(lpa) if lpa == env.lpa => Ok(()),
        other => Err(Rejection::new(
            RejectCode::SubjectMismatch,
            format!(
                "subject {subject:?} names LPA {:?} but the event's lpa is {:?}; publish on {}",
                other.unwrap_or(""),
                env.lpa,
                subject_for(&env.lpa, env.event_type().as_str())
            ),
        )),
    }
}
