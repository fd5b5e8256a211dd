//! §8 against content.json and the library.

mod accept;
mod differential;
mod frames;
mod purge;
mod session_flow;
mod support;
mod timers;
