//! The HTTP front door: routes, extractors, the error mapping, middleware and the state the
//! handlers share. It translates between HTTP and the core's use cases, and holds no
//! business logic of its own.

pub mod auth;
pub mod body_budget;
pub mod error;
pub mod extract;
pub mod mcp;
pub mod middleware;
pub mod preconditions;
pub mod routes;
pub mod serve;
pub mod sse;
pub mod state;

pub use routes::build_router;
