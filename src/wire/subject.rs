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

/// The contract's publish subject is `neighbourhood.events.<lpa>.<type>`: its LPA token
/// must equal the envelope's `lpa`, and what follows it must be the event's type, with no
/// further tokens (a subject that says something else about the event is a publisher bug).
pub fn check_subject(subject: &str, env: &Envelope) -> Result<(), Rejection> {
    let want = subject_for(&env.lpa, env.event_type().as_str());
    if subject == want {
        return Ok(());
    }
    let named = lpa_of_subject(subject).unwrap_or("");
    let why = if named != env.lpa {
        format!(
            "subject {subject:?} names LPA {named:?} but the event's lpa is {:?}",
            env.lpa
        )
    } else {
        format!(
            "subject {subject:?} does not end in the event's type {:?}",
            env.event_type().as_str()
        )
    };
    Err(Rejection::new(
        RejectCode::SubjectMismatch,
        format!("{why}; publish on {want}"),
    ))
}
