//! What calls keep while they last: the call's record in Redis ([`store`]) and the ICE
//! servers clients are given ([`ice`]). What a `call` frame may do is decided by the actions.

pub mod ice;
pub mod store;

pub use ice::CallsConfig;
pub use store::CallStore;
