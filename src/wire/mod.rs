//! The wire format: JSON envelopes on `neighbourhood.events.<lpa>.<type>`. `decode`
//! turns bytes into validated domain events, `encode` writes them, `subject` holds
//! the subject rules, `json` the door's strict JSON parser (no repeated member names).

pub mod decode;
pub mod encode;
pub mod json;
pub mod subject;
