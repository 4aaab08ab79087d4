//! The wire format: JSON envelopes on `neighbourhood.events.<lpa>.<type>`. `decode`
//! turns bytes into validated domain events, `encode` writes them, `subject` holds
//! the subject rules.

pub mod decode;
pub mod encode;
pub mod subject;
