//! §9 against sealed_sender.json and the library.

mod certificates;
mod envelopes;
mod hostile;
mod opened;
mod support;
