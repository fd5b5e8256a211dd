//! A cheap deterministic fuzz: no panic, and no state change on failure, for random and mutated
//! input to every decoder and receiving entry point.

use crate::common::{CONTEXT, established};
use crate::support::{T0, pki};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use xchat_protocol::content::Content;
use xchat_protocol::sealed_sender::seal_to;
use xchat_protocol::{Config, Trust};
use xchat_protocol::{
    Error, IdentityKeyPair, Incoming, PreKeyBundle, PreKeyStore, SealedRecipient,
    SealedSenderError, SenderCertificate, ServerCertificate, Session,
};

/// HELD: no panic, and no state change on failure, for random and mutated inputs to every
/// decoder and every receiving entry point (a cheap deterministic fuzz; FUZZING.md has the long
/// runs).
#[test]
fn held_no_panic_and_no_change_on_random_or_mutated_input() {
    let mut p = established(129, false);
    let mut r = ChaCha20Rng::seed_from_u64(130);
    let pki = pki(&mut r);
    let reply = p.bob.send(&mut p.rng, T0, b"reply").unwrap();
    let first_bundle = p.bob_store.bundle(&p.bob_id, None).unwrap().to_bytes();
    let alice2 = IdentityKeyPair::generate(&mut r);
    let mut a2 = Session::initiate(
        &mut r,
        &alice2,
        &PreKeyBundle::from_bytes(&first_bundle).unwrap(),
        Trust::FirstUse,
        &Config::new(CONTEXT).allow_classical(),
    )
    .unwrap();
    let prekey_msg = a2.send(&mut r, T0, b"prekey").unwrap();
    let env = seal_to(
        &mut r,
        &alice2,
        &pki.cert(b"a2", &alice2),
        p.bob_id.public(),
        &prekey_msg,
    )
    .unwrap();
    let samples: Vec<Vec<u8>> = vec![
        reply.clone(),
        prekey_msg.clone(),
        env.clone(),
        first_bundle.clone(),
        p.alice.to_bytes().unwrap().to_vec(),
        p.bob_store.to_bytes().unwrap().to_vec(),
        pki.cert(b"x", &alice2).to_bytes().unwrap(),
    ];
    let recipient = SealedRecipient {
        identity: &p.bob_id,
        trust_roots: &pki.roots,
        revoked_servers: &[],
    };
    for i in 0..1500u32 {
        let mut input = samples[i as usize % samples.len()].clone();
        match i % 4 {
            0 => {
                let at = r.next_u32() as usize % input.len();
                input[at] ^= 1 << (r.next_u32() % 8);
            }
            1 => input.truncate(r.next_u32() as usize % input.len()),
            2 => input.push(r.next_u32() as u8),
            _ => {
                let len = r.next_u32() as usize % 300;
                input = (0..len).map(|_| r.next_u32() as u8).collect();
                if len > 1 {
                    // A wire message's version and type (SPEC.md §5.2, §5.3).
                    input[0] = 1;
                    input[1] = 1 + (r.next_u32() % 2) as u8;
                }
            }
        }
        let _ = Incoming::decode(&input);
        let _ = PreKeyBundle::from_bytes(&input);
        let _ = Session::from_bytes(&input);
        let _ = PreKeyStore::from_bytes(&input);
        let _ = IdentityKeyPair::from_bytes(&input);
        let _ = SenderCertificate::from_bytes(&input);
        let _ = ServerCertificate::from_bytes(&input);
        let _ = Content::from_padded_bytes(&input);
        let _ = recipient.open(&input, T0);
        for s in [&mut p.alice, &mut p.bob] {
            let before = s.to_bytes();
            match s.receive(&input, T0) {
                Ok(_) | Err(Error::Expired) | Err(Error::InvalidContent(_)) => {
                    panic!("a mutated input authenticated")
                }
                Err(_) => assert_eq!(s.to_bytes(), before),
            }
        }
        let before = p.bob_store.to_bytes();
        assert!(
            Session::accept(
                &p.bob_id,
                &mut p.bob_store,
                &input,
                &Config::new(CONTEXT).allow_classical(),
                T0
            )
            .is_err()
        );
        assert_eq!(p.bob_store.to_bytes(), before);
    }
    // The authentic inputs still work after all that.
    assert_eq!(
        p.alice
            .receive(&reply, T0)
            .unwrap()
            .into_message()
            .unwrap()
            .body,
        b"reply"
    );
    let (_, got) = Session::accept(
        &p.bob_id,
        &mut p.bob_store,
        &prekey_msg,
        &Config::new(CONTEXT).allow_classical(),
        T0,
    )
    .unwrap();
    assert_eq!(got.body, b"prekey");
    assert!(matches!(
        recipient.open(&env, T0).unwrap().respond(
            &p.bob_id,
            &mut p.bob_store,
            &Config::new(CONTEXT).allow_classical()
        ),
        Err(SealedSenderError::Session(Error::DuplicateMessage))
    ));
}
