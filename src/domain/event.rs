//! Events as the domain sees them: the vocabulary (roles, scopes, the seven event
//! types) and the typed, validated [`Envelope`]. Bytes become an `Envelope` only in
//! `wire::decode`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Pc,
    Pcso,
    SpecialConstable,
    Sergeant,
    Inspector,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Pc,
        Role::Pcso,
        Role::SpecialConstable,
        Role::Sergeant,
        Role::Inspector,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pc => "pc",
            Role::Pcso => "pcso",
            Role::SpecialConstable => "special_constable",
            Role::Sergeant => "sergeant",
            Role::Inspector => "inspector",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Lpa,
    Force,
    External,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Lpa, Scope::Force, Scope::External];
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Lpa => "lpa",
            Scope::Force => "force",
            Scope::External => "external",
        }
    }
}

/// The seven event types, by their wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ShiftRostered,
    ShiftCancelled,
    AbstractionRecorded,
    AbstractionStarted,
    AbstractionEnded,
    AbstractionAmended,
    AbstractionCancelled,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::ShiftRostered,
        EventType::ShiftCancelled,
        EventType::AbstractionRecorded,
        EventType::AbstractionStarted,
        EventType::AbstractionEnded,
        EventType::AbstractionAmended,
        EventType::AbstractionCancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ShiftRostered => "shift.rostered",
            EventType::ShiftCancelled => "shift.cancelled",
            EventType::AbstractionRecorded => "abstraction.recorded",
            EventType::AbstractionStarted => "abstraction.started",
            EventType::AbstractionEnded => "abstraction.ended",
            EventType::AbstractionAmended => "abstraction.amended",
            EventType::AbstractionCancelled => "abstraction.cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A validated event. Times are epoch milliseconds: exact integer arithmetic keeps the
/// fold's sums independent of the order they are added in.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub event_id: String,
    pub occurred_ms: i64,
    pub source: String,
    pub lpa: String,
    pub event: Event,
}

impl Envelope {
    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftFields {
    pub officer_id: String,
    pub role: Role,
    pub sector: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// What `recorded` and `started` both carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbstractionFields {
    pub officer_id: String,
    pub role: Role,
    pub sector: String,
    pub reason: String,
    pub scope: Scope,
    pub planned: bool,
    pub start_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Amendment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    ShiftRostered {
        shift_id: String,
        fields: ShiftFields,
    },
    ShiftCancelled {
        shift_id: String,
    },
    AbstractionRecorded {
        abstraction_id: String,
        fields: AbstractionFields,
        end_ms: i64,
    },
    AbstractionStarted {
        abstraction_id: String,
        fields: AbstractionFields,
    },
    AbstractionEnded {
        abstraction_id: String,
        end_ms: i64,
    },
    AbstractionAmended {
        abstraction_id: String,
        amendment: Amendment,
    },
    AbstractionCancelled {
        abstraction_id: String,
    },
}

impl Event {
    pub fn event_type(&self) -> EventType {
        match self {
            Event::ShiftRostered { .. } => EventType::ShiftRostered,
            Event::ShiftCancelled { .. } => EventType::ShiftCancelled,
            Event::AbstractionRecorded { .. } => EventType::AbstractionRecorded,
            Event::AbstractionStarted { .. } => EventType::AbstractionStarted,
            Event::AbstractionEnded { .. } => EventType::AbstractionEnded,
            Event::AbstractionAmended { .. } => EventType::AbstractionAmended,
            Event::AbstractionCancelled { .. } => EventType::AbstractionCancelled,
        }
    }
}
