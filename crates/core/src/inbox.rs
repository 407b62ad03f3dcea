//! Notifications: who is told about what. Delivery (the in-app inbox, later a webhook) is the
//! edge's; here is only the shape.

use crate::jurisdiction::Role;

/// Who a notification is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// One account (a reporter).
    Account(String),
    /// An organisation's staff, or only those of it holding `role`.
    Org {
        /// The organisation's key.
        org: String,
        /// Only this role, if set.
        role: Option<Role>,
    },
}

/// A notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Id, increasing (0 before it is stored).
    pub id: i64,
    /// When (Unix ms).
    pub at: i64,
    /// For whom.
    pub recipient: Recipient,
    /// The case it is about, if any.
    pub case_id: Option<String>,
    /// What kind: `new_work`, `warning`, `overdue`, `escalated`, `urged`, `returned`,
    /// `extension_requested`, `progress` …
    pub kind: String,
    /// The text, Chinese and English.
    pub message: String,
}
