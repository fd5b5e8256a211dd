//! negative.json: inputs that must be rejected, each with the operation to run, its inputs and
//! the exact error. The families run in a fixed order on one RNG, since the draws are part of the
//! file.

mod content;
mod fixture;
mod harness;
pub(super) mod points;
mod pqxdh;
mod pqxdh_fixture;
mod pqxdh_wire;
mod ratchet;
mod sealed_sender;
mod state_session;
mod state_store;
mod wire;
mod x3dh;

use super::json::{Json, hx};
use super::rng::Recorder;
use super::shared::header;
use fixture::Fixture;
use harness::Neg;

/// negative.json.
pub fn negative_json() -> Json {
    let mut neg = Neg {
        entries: Vec::new(),
    };
    let rng_seed = [0x4e; 32];
    let mut rng = Recorder::new(rng_seed);
    let fx = Fixture::new(&mut rng);
    wire::keys(&mut neg);
    wire::bundles(&mut neg, &fx);
    wire::messages(&mut neg, &fx);
    x3dh::signatures(&mut neg, &fx);
    x3dh::initiate(&mut neg, &fx);
    x3dh::respond(&mut neg, &fx);
    let fresh_key = ratchet::decrypt(&mut neg, &fx, &mut rng);
    ratchet::encrypt_limits_identity(&mut neg, &fx, &mut rng);
    content::receive(&mut neg, &fx, &mut rng);
    content::frames(&mut neg);
    state_store::identity_and_store(&mut neg, &fx);
    state_session::session(&mut neg, &fx, fresh_key);
    sealed_sender::vectors(&mut neg, &fx, &mut rng);
    pqxdh::vectors(&mut neg, &fx, &mut rng);

    header(
        "negative.json",
        "Inputs that must be rejected, each with the operation to run, its inputs and the exact error",
        &[
            "§2", "§3.5", "§4.2", "§4.3", "§4.4", "§4.5", "§5", "§6.3", "§6.4", "§6.5", "§6.6",
            "§7", "§10", "§11", "§8", "§9",
        ],
    )
    .f("rng_seed", hx(rng_seed))
    .f("entries", Json::Array(neg.entries))
    .into()
}
