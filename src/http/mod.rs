//! The HTTP side: bearer-token authentication and the REST error shape shared by every route.

pub mod auth;
pub mod error;
