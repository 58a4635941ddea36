//! The HTTP API on 127.0.0.1:0, driven through the typed client and raw HTTP.

mod auth;
mod datastore;
mod events;
mod projects;
mod resources;
mod sequences;
mod support;
mod uniform;
