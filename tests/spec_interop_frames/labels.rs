//! §3.0 and §9.1: the labels as typed here against the spec's hex table and the library.

use crate::util::hx;
use crate::{dr, sealed};

#[test]
fn labels_match_spec_table_and_library() {
    for (label, len, hex) in [
        (
            dr::LABEL_X3DH,
            22,
            "78636861742d70726f746f636f6c2076312058334448",
        ),
        (
            dr::LABEL_ROOT,
            28,
            "78636861742d70726f746f636f6c20763120726f6f7420636861696e",
        ),
        (
            dr::LABEL_MESSAGE,
            29,
            "78636861742d70726f746f636f6c207631206d657373616765206b6579",
        ),
        (
            dr::LABEL_SIGNED_PREKEY,
            31,
            "78636861742d70726f746f636f6c207631207369676e6564207072656b6579",
        ),
    ] {
        assert_eq!(label.len(), len);
        assert_eq!(hx(label), hex);
    }
    use xchat_protocol::kdf as lib;
    assert_eq!(
        sealed::LABEL_SERVER_CERTIFICATE,
        lib::LABEL_SERVER_CERTIFICATE
    );
    assert_eq!(
        sealed::LABEL_SENDER_CERTIFICATE,
        lib::LABEL_SENDER_CERTIFICATE
    );
    assert_eq!(sealed::LABEL_SEALED_EPHEMERAL, lib::LABEL_SEALED_EPHEMERAL);
    assert_eq!(sealed::LABEL_SEALED_STATIC, lib::LABEL_SEALED_STATIC);
}
