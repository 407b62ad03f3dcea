//! Wanxiang's domain core: the things a city platform is about, as plain data and functions.
//!
//! Architecture invariant: this crate does no I/O. It knows nothing of files, sockets, databases,
//! clocks or async runtimes; callers pass time and data in and get decisions back. The `tidy` test in
//! the `wanxiang` crate fails when this crate gains a dependency that could do I/O.

pub mod account;
pub mod alarm;
pub mod case;
pub mod category;
pub mod dispatch;
pub mod identity;
pub mod inbox;
pub mod jurisdiction;
pub mod service;
pub mod sla;
pub mod unit;
pub mod warning;

pub use account::{Account, AuditEntry, Department, Entity, EntityKind, NewAccount};
pub use jurisdiction::{DeptCode, Org, Role, Scope, ScopeFilter};
pub use unit::{Level, ParseCodeError, Unit, UnitCode};
