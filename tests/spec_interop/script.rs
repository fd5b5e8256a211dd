//! The conversation script every mix of implementations runs, with the decode-error mutations of
//! §5.4, and its transcript.

use crate::parties::Transcript;
use crate::reference::wire::encode_prefields;
use crate::world::{World, check_correspondence, header, recv, send, setup};
use curve25519_dalek::constants::EIGHT_TORSION;
use ed25519_dalek::SigningKey;

pub(crate) fn script(w: &mut World, a2: &[u8], swap: bool) {
    // Bob replies b0..b3 on his first sending chain (PN = 0).
    let b: Vec<_> = (0..4u8).map(|i| send(w, false, &[b'b', i])).collect();
    let bob_key0 = header(&b[0]).1;
    for (i, m) in b.iter().enumerate() {
        assert_eq!(header(m), (false, bob_key0, 0, u32::try_from(i).unwrap()));
    }
    // Alice receives b3, then b1, out of order.
    recv(w, true, &b[3], Ok(b"b\x03"));
    recv(w, true, &b[1], Ok(b"b\x01"));
    recv(w, true, &b[1], Err("DuplicateMessage"));
    // Acknowledged: Alice's ratchet turn, normal messages with PN = 3.
    let c0 = send(w, true, b"c0");
    let c1 = send(w, true, b"c1");
    let (pre, alice_key1, pn, n) = header(&c0);
    assert!(!pre);
    assert_eq!((pn, n), (3, 0));
    assert_ne!(alice_key1, header(a2).1);
    assert_eq!(header(&c1), (false, alice_key1, 3, 1));
    // Bob gets c1 first: derives the old-chain key for a2 (PN 3 − Nr 2) and c0's key.
    recv(w, false, &c1, Ok(b"c1"));
    check_correspondence(&w.alice, &w.bob);
    {
        let v = w.bob.view();
        assert_eq!(v.o().old, vec![header(a2).1]);
        assert_eq!(v.o().skipped.len(), 2);
        assert_eq!(
            (v.o().skipped[0].key, v.o().skipped[0].n),
            (header(a2).1, 2)
        );
        assert_eq!((v.o().skipped[1].key, v.o().skipped[1].n), (alice_key1, 0));
        assert_eq!(v.o().pn, 4);
        assert_eq!(v.o().received, 3);
    }
    // The late prekey message a2 (skipped across the turn) and c0.
    recv(w, false, a2, Ok(b"a\x02"));
    recv(w, false, a2, Err("DuplicateMessage"));
    recv(w, false, &c0, Ok(b"c0"));
    recv(w, false, &c0, Err("DuplicateMessage"));

    if swap {
        w.alice.swap_implementation();
        w.bob.swap_implementation();
        w.t.rec("swapped", &[]);
    }

    // Bob's turn: PN = 4.
    let d0 = send(w, false, b"d0");
    assert_eq!(header(&d0).2, 4);
    assert_eq!(header(&d0).3, 0);
    // A tampered message fails and changes nothing; the original still opens.
    let mut bad = d0.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    recv(w, true, &bad, Err("DecryptionFailed"));
    recv(w, true, &d0, Ok(b"d0"));
    check_correspondence(&w.bob, &w.alice);
    // Old-chain messages b0, b2 still open (skipped keys across the turn).
    recv(w, true, &b[2], Ok(b"b\x02"));
    recv(w, true, &b[0], Ok(b"b\x00"));
    recv(w, true, &b[0], Err("DuplicateMessage"));

    // Bob sends e0..e2 on the same chain; Alice gets only e0 before replying.
    let e: Vec<_> = (0..3u8).map(|i| send(w, false, &[b'e', i])).collect();
    recv(w, true, &e[0], Ok(b"e\x00"));
    let f0 = send(w, true, b"f0");
    assert_eq!(header(&f0).2, 2); // PN: c0, c1
    recv(w, false, &f0, Ok(b"f0"));
    check_correspondence(&w.alice, &w.bob);
    // Bob's next chain has PN = 4 (d0, e0..e2): Alice derives e1, e2 from the old chain.
    let g0 = send(w, false, b"g0");
    assert_eq!(header(&g0).2, 4);
    recv(w, true, &g0, Ok(b"g0"));
    check_correspondence(&w.bob, &w.alice);
    recv(w, true, &e[2], Ok(b"e\x02"));
    recv(w, true, &e[1], Ok(b"e\x01"));

    // Decode errors agree (§5.4) and leave state untouched.
    let h0 = send(w, true, b"h0");
    let before = w.bob.state();
    for bad in mutations(&h0) {
        let r = w.bob.decrypt(&bad);
        w.t.rec("mutation", format!("{r:?}").as_bytes());
        assert!(r.is_err());
        assert_eq!(w.bob.state(), before);
    }
    let ik_torsion = mutations(&h0).pop().unwrap();
    assert_eq!(
        w.bob.decrypt(&ik_torsion).unwrap_err(),
        "Decode(InvalidKey)"
    );
    // A prekey message with other X3DH fields is a mismatch (§7.4).
    let mut pre = encode_prefields(&w.bob.view().prefields());
    pre[66] ^= 1;
    pre.extend_from_slice(&h0);
    recv(w, false, &pre, Err("SessionMismatch"));
    recv(w, true, &pre, Err("SessionMismatch"));
    recv(w, false, &h0, Ok(b"h0"));

    // A longer exchange on the same chain with a larger plaintext.
    let big = vec![0x5Au8; 5000];
    let i0 = send(w, false, &big);
    assert_eq!(i0.len(), 58 + 5000 + 16);
    recv(w, true, &i0, Ok(&big));
    let empty = send(w, true, b"");
    recv(w, false, &empty, Ok(b""));
    check_correspondence(&w.alice, &w.bob);
    let ctx = w.ctx.clone();
    w.t.rec("ctx", &ctx);
    let store = w.bob_pre.store_state();
    w.t.rec("bob store", &store);
}

fn mutations(m: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        vec![],
        vec![0x02],
        vec![0x01],
        vec![0x01, 0x03],
        vec![0x01, 0x02],
    ];
    for len in [1, 2, 10, 33, 57, 58, 73] {
        out.push(m[..len].to_vec());
    }
    let mut v = m.to_vec();
    v[2 + 31] = 0x80; // non-canonical ratchet key
    out.push(v);
    let mut v = m.to_vec();
    v[2..34].copy_from_slice(&[0xFF; 32]);
    v[33] = 0x7F;
    out.push(v);
    let mut v = m.to_vec();
    v[2..34].copy_from_slice(&[0u8; 32]); // low-order point: NonContributory on use
    out.push(v);
    let mut v = m.to_vec();
    v[40] ^= 1; // N changed: wrong key or too far
    out.push(v);
    let mut v = m.to_vec();
    v[38..42].copy_from_slice(&u32::MAX.to_be_bytes());
    out.push(v);
    let mut v = m.to_vec();
    v[45] ^= 1; // seed
    out.push(v);
    // Prekey message forms: nested prekey type, truncated fields, bad flag, invalid IK.
    let mut nested = vec![0x01, 0x02];
    nested.extend_from_slice(&[0u8; 73]);
    out.push(nested);
    let mut p = vec![0x01, 0x02];
    p.extend_from_slice(&SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
    p.extend_from_slice(&[9u8; 32]);
    p.extend_from_slice(&[0, 0, 0, 0, 2]);
    out.push(p.clone());
    p.truncate(p.len() - 1);
    p.push(0);
    let mut nested = p.clone();
    nested.extend_from_slice(&[0x01, 0x02]);
    nested.extend_from_slice(&m[2..]);
    out.push(nested);
    let mut ik_bad = vec![0x01, 0x02];
    ik_bad.extend_from_slice(&[0u8; 32]); // y = 0: a point of order 4
    ik_bad.extend_from_slice(&[9u8; 32]);
    out.push(ik_bad);
    let mut ik_small = vec![0x01, 0x02];
    let mut ident = [0u8; 32];
    ident[0] = 1; // the neutral point: small order
    ik_small.extend_from_slice(&ident);
    ik_small.extend_from_slice(&[9u8; 32]);
    out.push(ik_small);
    // A valid identity plus an 8-torsion point: not in the prime-order subgroup (§2.4).
    let mut ik_torsion = vec![0x01, 0x02];
    let ik = SigningKey::from_bytes(&[7; 32])
        .verifying_key()
        .to_edwards();
    ik_torsion.extend_from_slice(&(ik + EIGHT_TORSION[7]).compress().to_bytes());
    ik_torsion.extend_from_slice(&m[2..34]);
    ik_torsion.extend_from_slice(&[0, 0, 0, 0, 0]);
    ik_torsion.extend_from_slice(m);
    out.push(ik_torsion);
    out
}

pub(crate) fn world_transcript(
    seed: u8,
    alice: bool,
    bob: bool,
    opk: bool,
    ctx: &[u8],
    swap: bool,
) -> Transcript {
    let (mut w, a2) = setup(seed, alice, bob, opk, ctx);
    script(&mut w, &a2, swap);
    w.t
}
