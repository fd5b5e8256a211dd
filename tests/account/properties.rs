//! No sequence of server-supplied lists can make a sender encrypt to a device the account did
//! not sign: whatever the server sends — honest lists in any order, repeats, rollbacks, forks
//! signed by the account's own key over devices it did sign, lists of another account key with
//! ghost devices, and damaged bytes — every device the view accepts is one the account key
//! listed and the device itself joined (the oracle is the set of memberships the honest account
//! made), and the view only moves forward.

use proptest::prelude::*;
use xchat_protocol::IdentityKeyPair;
use xchat_protocol::account::{AccountKeyPair, DeviceEntry, DeviceList, DeviceListView};

use crate::common::proptest_config;
use crate::support::{Account, T0, rng};

#[derive(Debug, Clone)]
enum Serve {
    /// The honest list with this index (modulo how many exist).
    Honest(usize),
    /// A run of honest lists from this index.
    Run(usize, usize),
    /// A list signed by a server key, with a ghost device.
    Foreign,
    /// An honest list with one byte flipped.
    Damaged(usize, usize),
}

fn serve() -> impl Strategy<Value = Serve> {
    prop_oneof![
        any::<usize>().prop_map(Serve::Honest),
        (any::<usize>(), 1usize..4).prop_map(|(a, n)| Serve::Run(a, n)),
        Just(Serve::Foreign),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Serve::Damaged(a, b)),
    ]
}

proptest! {
    #![proptest_config(proptest_config(48))]

    #[test]
    fn no_server_sequence_makes_a_sender_trust_an_unsigned_device(
        seed in any::<u8>(),
        changes in proptest::collection::vec(any::<bool>(), 1..6),
        served in proptest::collection::vec(serve(), 1..12),
    ) {
        let mut r = rng(seed);
        let mut bob = Account::new(&mut r, 2);
        let mut next_id = 3;
        for add in changes {
            if add || bob.devices.len() == 1 {
                bob.add(&mut r, next_id);
                next_id += 1;
            } else {
                let id = bob.devices[0].0;
                bob.remove(id);
            }
        }
        // Every (device id, identity) the honest account ever listed.
        let signed: Vec<(u32, [u8; 32])> = bob
            .lists
            .iter()
            .flat_map(|l| l.devices().iter().map(|d| (d.device_id(), d.identity().to_bytes())))
            .collect();
        let server = AccountKeyPair::generate(&mut r);
        let ghost = IdentityKeyPair::generate(&mut r);
        let mut view = DeviceListView::new(bob.lists[0].clone());
        let n = bob.lists.len();
        for s in served {
            let lists: Vec<DeviceList> = match s {
                Serve::Honest(i) => vec![bob.lists[i % n].clone()],
                Serve::Run(i, k) => bob.lists.iter().cycle().skip(i % n).take(k).cloned().collect(),
                Serve::Foreign => {
                    let entries = vec![DeviceEntry::sign(&ghost, server.public(), 1, T0)];
                    vec![DeviceList::first(&server, entries, T0).unwrap()]
                }
                Serve::Damaged(i, b) => {
                    let mut bytes = bob.lists[i % n].to_bytes();
                    let at = b % bytes.len();
                    bytes[at] ^= 0x10;
                    match DeviceList::from_bytes(&bytes) {
                        Ok(l) => vec![l],
                        Err(_) => continue,
                    }
                }
            };
            let before = view.clone();
            match view.update(&lists) {
                Ok(_) => prop_assert!(view.current().sequence() >= before.current().sequence()),
                Err(_) => prop_assert_eq!(&view, &before),
            }
            for d in view.current().devices() {
                prop_assert!(
                    signed.contains(&(d.device_id(), d.identity().to_bytes())),
                    "a device the account never signed: {:?}", d
                );
            }
            prop_assert!(view.check_device(ghost.public()).is_err());
            prop_assert_eq!(view.account(), bob.key.public());
        }
    }
}
