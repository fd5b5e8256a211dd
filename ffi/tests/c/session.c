/* A whole sealed, expiring Alice/Bob conversation through the C ABI (include/xchat_protocol.h).
 *
 * Build and run from the repository root (this is what .ci/run does):
 *   cargo build -p xchat-protocol-ffi --release
 *   gcc -std=c11 -Wall -Wextra -Werror -Iinclude ffi/tests/c/session.c -o session \
 *       -Ltarget/release -l:libxchat_protocol_ffi.a -lpthread -ldl -lm
 *   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 ./session
 *
 * It prints each step and exits non-zero on the first failure. Everything it creates is freed.
 * Step 9 misuses handles on purpose (double free, use after free and after consume, wrong type,
 * pointers never issued): each is reported as XC_ERR_INVALID_HANDLE, and valgrind confirms that
 * the library never reads through them. Step 10 is a peer that starts a new session under the
 * same identity: xc_opened_decrypt reports XC_ERR_SESSION_MISMATCH and keeps the envelope, which
 * then goes to xc_opened_respond. Step 11 is an attachment: sealed chunk by chunk, its descriptor
 * sent over the session, opened chunk by chunk (and one chunk alone, in place). Step 12 is
 * accounts: a safety number computed and compared on both sides, and a ghost device's bundle
 * refused by Alice's contact for Bob, whose signed device list does not name it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xchat_protocol.h"

#define T0 UINT64_C(1700000000000) /* ms since the Unix epoch */
#define SECOND_MS UINT64_C(1000)
#define HOUR_MS UINT64_C(3600000)
#define DAY_MS UINT64_C(86400000)

static const uint8_t CONTEXT[] = "alice@example.org|bob@example.org";
#define CONTEXT_LEN (sizeof CONTEXT - 1)

static void fail_at(int line, const char *what, int32_t code) {
    fprintf(stderr, "FAIL (line %d): %s -> %" PRId32 " (%s)\n", line, what, code,
            xc_error_message(code));
    exit(1);
}

/* The call must succeed. */
#define CHECK(call)                                                                             \
    do {                                                                                        \
        int32_t rc_ = (call);                                                                   \
        if (rc_ != XC_OK) fail_at(__LINE__, #call, rc_);                                        \
    } while (0)

/* The call must fail with exactly `want`. */
#define CHECK_CODE(call, want)                                                                  \
    do {                                                                                        \
        int32_t rc_ = (call);                                                                   \
        if (rc_ != (want)) {                                                                    \
            fprintf(stderr, "FAIL (line %d): %s returned %" PRId32 " (%s), expected %s\n",      \
                    __LINE__, #call, rc_, xc_error_message(rc_), #want);                        \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

#define EXPECT(cond)                                                                            \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "FAIL (line %d): expected %s\n", __LINE__, #cond);                  \
            exit(1);                                                                            \
        }                                                                                       \
    } while (0)

static int buffer_equals(const XcBuffer *b, const char *text) {
    size_t n = strlen(text);
    return b->len == n && (n == 0 || memcmp(b->ptr, text, n) == 0);
}

static uint32_t read_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* What the relay sees: the recipient, a padded length, opaque bytes. */
static void relay_post(const char *to, const XcBuffer *envelope) {
    printf("   relay saw: to=%-5s %5zu bytes  ", to, envelope->len);
    for (size_t i = 0; i < 8 && i < envelope->len; i++) printf("%02x", envelope->ptr[i]);
    printf("...\n");
}

/* What the recipient learned. */
static void show(const char *who, const XcBuffer *address, uint32_t device,
                 const XcReceived *r) {
    printf("   %s learned: from=%.*s device=%" PRIu32 " ", who, (int)address->len,
           (const char *)address->ptr, device);
    if (r->kind == XC_CONTENT_KIND_TIMER_UPDATE) {
        printf("timer update: %" PRIu32 "s %s (version %" PRIu32 ")", r->timer_duration_s,
               r->timer_start == XC_TIMER_START_ON_READ ? "after reading" : "after sending",
               r->timer_version);
    } else {
        printf("text=\"%.*s\"", (int)r->body.len, (const char *)r->body.ptr);
    }
    switch (r->deadline_kind) {
    case XC_DEADLINE_NEVER: printf(" delete=never"); break;
    case XC_DEADLINE_AT: printf(" delete=at t0+%" PRIu64 "s", (r->deadline_ms - T0) / SECOND_MS); break;
    case XC_DEADLINE_AFTER_READ: printf(" delete=%" PRIu64 "s after reading", r->deadline_ms / SECOND_MS); break;
    default: fail_at(__LINE__, "unknown deadline kind", XC_OK);
    }
    printf("%s\n", r->timer_changed ? " (timer changed)" : "");
}

/* Seals a message of `session` (from `sender`) to the session's peer and frees the session message. */
static XcBuffer seal_to(const XcIdentity *sender, const XcBuffer *certificate,
                        const XcSession *session, XcBuffer *inner) {
    XcBuffer envelope;
    CHECK(xc_seal(sender, certificate->ptr, certificate->len, session, inner->ptr, inner->len,
                  &envelope));
    xc_buffer_free(inner);
    return envelope;
}

/* Opens an envelope at `now_ms`, trusting one root and no revocations. */
static XcOpened *open_at(const XcIdentity *me, const uint8_t root[XC_KEY_LEN], uint64_t now_ms,
                         const XcBuffer *envelope) {
    XcOpened *opened = NULL;
    CHECK(xc_open(me, root, 1, NULL, 0, now_ms, envelope->ptr, envelope->len, &opened));
    EXPECT(opened != NULL);
    return opened;
}

/* Opens an envelope and decrypts it with an existing session; prints what was learned. */
static XcReceived receive(const char *who, const XcIdentity *me, const uint8_t root[XC_KEY_LEN],
                          XcSession *session, uint64_t now_ms, const XcBuffer *envelope,
                          const uint8_t expected_sender[XC_KEY_LEN]) {
    XcOpened *opened = open_at(me, root, now_ms, envelope);
    bool prekey = true;
    CHECK(xc_opened_is_prekey_message(opened, &prekey));
    XcBuffer address;
    uint32_t device = 0;
    uint8_t sender[XC_KEY_LEN];
    CHECK(xc_opened_sender_address(opened, &address));
    CHECK(xc_opened_sender_device_id(opened, &device));
    CHECK(xc_opened_sender_identity(opened, sender));
    EXPECT(memcmp(sender, expected_sender, XC_KEY_LEN) == 0);
    XcReceived received;
    CHECK(xc_opened_decrypt(&opened, session, &received)); /* consumes `opened` */
    show(who, &address, device, &received);
    xc_buffer_free(&address);
    return received;
}

/* Saves a session to bytes, frees it and restores it: what an app does across restarts. */
static XcSession *save_and_restore_session(XcSession *session) {
    XcBuffer saved;
    CHECK(xc_session_to_bytes(session, &saved));
    CHECK(xc_session_free(&session));
    EXPECT(session == NULL);
    XcSession *restored = NULL;
    CHECK(xc_session_from_bytes(saved.ptr, saved.len, &restored));
    xc_buffer_free(&saved);
    return restored;
}

int main(void) {
    printf("xchat-protocol C ABI: a sealed, expiring Alice/Bob conversation\n");

    printf("0. The boundary checks its arguments.\n");
    CHECK_CODE(xc_identity_generate(NULL), XC_ERR_NULL_POINTER);
    CHECK_CODE(xc_session_send(NULL, T0, NULL, 0, NULL), XC_ERR_NULL_POINTER);
    XcBuffer none;
    CHECK_CODE(xc_session_send(NULL, T0, NULL, 0, &none), XC_ERR_NULL_POINTER);
    EXPECT(none.ptr == NULL && none.len == 0);
    xc_buffer_free(&none);
    xc_buffer_free(NULL);
    CHECK(xc_session_free(NULL)); /* NULL, or the address of a NULL variable: a no-op */
    XcSession *no_session = NULL;
    CHECK(xc_session_free(&no_session));
    printf("   NULL arguments -> %s; unknown code -> %s\n", xc_error_message(XC_ERR_NULL_POINTER),
           xc_error_message(12345));

    printf("1. The operator: a trust root certifies server 1, which certifies Alice and Bob.\n");
    XcCertKey *root = NULL, *server = NULL;
    CHECK(xc_cert_key_generate(&root));
    uint8_t server_seed[XC_KEY_LEN];
    for (size_t i = 0; i < XC_KEY_LEN; i++) server_seed[i] = (uint8_t)(7 * i + 1);
    CHECK(xc_cert_key_from_seed(server_seed, &server));
    uint8_t root_key[XC_KEY_LEN], server_key[XC_KEY_LEN];
    CHECK(xc_cert_key_public_key(root, root_key));
    CHECK(xc_cert_key_public_key(server, server_key));
    XcBuffer server_cert;
    CHECK(xc_cert_key_certify_server(root, 1, server_key, &server_cert));

    XcIdentity *alice = NULL, *bob = NULL;
    CHECK(xc_identity_generate(&alice));
    CHECK(xc_identity_generate(&bob));
    uint8_t alice_key[XC_KEY_LEN], bob_key[XC_KEY_LEN];
    CHECK(xc_identity_public_key(alice, alice_key));
    CHECK(xc_identity_public_key(bob, bob_key));

    /* Identities persist once, at creation. */
    XcBuffer saved_identity;
    CHECK(xc_identity_to_bytes(alice, &saved_identity));
    CHECK(xc_identity_free(&alice));
    EXPECT(alice == NULL); /* the library NULLs the variable it frees */
    CHECK(xc_identity_from_bytes(saved_identity.ptr, saved_identity.len, &alice));
    xc_buffer_free(&saved_identity);
    uint8_t restored_key[XC_KEY_LEN];
    CHECK(xc_identity_public_key(alice, restored_key));
    EXPECT(memcmp(restored_key, alice_key, XC_KEY_LEN) == 0);

    XcBuffer alice_cert, bob_cert;
    CHECK(xc_cert_key_certify_sender(server, server_cert.ptr, server_cert.len,
                                     (const uint8_t *)"alice", 5, 1, alice_key, T0 + DAY_MS,
                                     &alice_cert));
    CHECK(xc_cert_key_certify_sender(server, server_cert.ptr, server_cert.len,
                                     (const uint8_t *)"bob", 3, 1, bob_key, T0 + DAY_MS, &bob_cert));
    printf("   server certificate %zu bytes, sender certificates %zu and %zu bytes\n",
           server_cert.len, alice_cert.len, bob_cert.len);

    printf("2. Bob creates prekeys and uploads the public halves as bundles.\n");
    XcPreKeyStore *bob_store = NULL;
    CHECK(xc_prekey_store_new(&bob_store));
    XcBuffer no_bundle;
    CHECK_CODE(xc_prekey_store_bundle(bob_store, bob, XC_NO_ONE_TIME_PREKEY, &no_bundle),
               XC_ERR_NO_SIGNED_PREKEY);
    uint32_t spk_id = UINT32_MAX;
    CHECK(xc_prekey_store_rotate_signed_prekey(bob_store, bob, T0, &spk_id));
    /* A last-resort ML-KEM prekey: every bundle carries it, so sessions are post-quantum (PQXDH). */
    uint32_t kem_id = UINT32_MAX;
    CHECK(xc_prekey_store_rotate_kem_prekey(bob_store, bob, T0, &kem_id));
    EXPECT(kem_id == 0);
    XcBuffer records;
    CHECK(xc_prekey_store_generate_one_time_prekeys(bob_store, 5, &records));
    EXPECT(records.len == 5 * XC_ONE_TIME_PREKEY_RECORD_LEN);
    size_t count = 0;
    CHECK(xc_prekey_store_one_time_count(bob_store, &count));
    EXPECT(count == 5);
    uint32_t first_id = read_be32(records.ptr);
    xc_buffer_free(&records);
    /* Two one-time KEM prekeys: each record is the KEM prekey as a bundle carries it. */
    XcBuffer kem_records;
    CHECK(xc_prekey_store_generate_kem_one_time_prekeys(bob_store, bob, 2, T0, &kem_records));
    EXPECT(kem_records.len == 2 * XC_KEM_PREKEY_RECORD_LEN && kem_records.ptr[0] == 0x01);
    uint32_t kem_one_time_id = read_be32(kem_records.ptr + 1);
    xc_buffer_free(&kem_records);
    CHECK_CODE(xc_prekey_store_bundle_with_kem_one_time(bob_store, bob, first_id, 999999, &no_bundle),
               XC_ERR_UNKNOWN_KEM_PREKEY);
    XcBuffer bundle;
    CHECK(xc_prekey_store_bundle_with_kem_one_time(bob_store, bob, first_id, kem_one_time_id, &bundle));
    CHECK_CODE(xc_prekey_store_bundle(bob_store, bob, 999999, &no_bundle),
               XC_ERR_UNKNOWN_ONE_TIME_PREKEY);
    CHECK_CODE(xc_prekey_store_bundle(bob_store, bob, -2, &no_bundle), XC_ERR_INVALID_ARGUMENT);
    EXPECT(bundle.len == 1823 && bundle.ptr[0] == 0x02); /* a PQXDH bundle (SPEC.md §5.1) */
    printf("   signed prekey %" PRIu32 ", last-resort KEM prekey %" PRIu32 ", 5 one-time prekeys, 2"
           " one-time KEM prekeys; PQXDH bundle with one-time prekey %" PRIu32 " and one-time KEM"
           " prekey %" PRIu32 ": %zu bytes\n", spk_id, kem_id, first_id, kem_one_time_id, bundle.len);

    printf("3. Alice fetches the bundle, starts a session and sends two sealed messages.\n");
    XcSession *alice_session = NULL;
    CHECK(xc_session_initiate(alice, bundle.ptr, bundle.len, NULL, CONTEXT, CONTEXT_LEN, &alice_session));
    xc_buffer_free(&bundle);
    CHECK(xc_session_check_remote_identity(alice_session, bob_key));
    CHECK_CODE(xc_session_check_remote_identity(alice_session, alice_key),
               XC_ERR_UNTRUSTED_IDENTITY);
    XcBuffer inner;
    CHECK(xc_session_send(alice_session, T0, (const uint8_t *)"Hi Bob!", 7, &inner));
    XcBuffer to_bob_1 = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_1);
    CHECK(xc_session_send(alice_session, T0 + 1, (const uint8_t *)"Are you there?", 14, &inner));
    XcBuffer to_bob_2 = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_2);

    printf("4. Bob opens the first (a prekey message: respond), then the second (decrypt).\n");
    XcOpened *opened = open_at(bob, root_key, T0 + SECOND_MS, &to_bob_1);
    bool prekey = false;
    CHECK(xc_opened_is_prekey_message(opened, &prekey));
    EXPECT(prekey);
    XcBuffer address;
    uint32_t device = 0;
    uint8_t sender_key[XC_KEY_LEN];
    CHECK(xc_opened_sender_address(opened, &address));
    CHECK(xc_opened_sender_device_id(opened, &device));
    CHECK(xc_opened_sender_identity(opened, sender_key));
    EXPECT(buffer_equals(&address, "alice") && device == 1);
    EXPECT(memcmp(sender_key, alice_key, XC_KEY_LEN) == 0);
    XcSession *bob_session = NULL;
    XcReceived received;
    CHECK(xc_opened_respond(&opened, bob, bob_store, CONTEXT, CONTEXT_LEN, &bob_session,
                            &received)); /* consumes `opened` */
    show("Bob", &address, device, &received);
    xc_buffer_free(&address);
    EXPECT(buffer_equals(&received.body, "Hi Bob!"));
    EXPECT(received.kind == XC_CONTENT_KIND_MESSAGE && received.sent_at_ms == T0);
    EXPECT(received.deadline_kind == XC_DEADLINE_NEVER && !received.timer_changed);
    xc_received_free(&received);
    xc_received_free(&received); /* a second free is a no-op */
    CHECK(xc_session_check_remote_identity(bob_session, alice_key));

    /* The store changed (a one-time prekey is gone): save it. */
    XcBuffer saved_store;
    CHECK(xc_prekey_store_to_bytes(bob_store, &saved_store));
    CHECK(xc_prekey_store_free(&bob_store));
    EXPECT(bob_store == NULL);
    CHECK(xc_prekey_store_from_bytes(saved_store.ptr, saved_store.len, &bob_store));
    xc_buffer_free(&saved_store);
    CHECK(xc_prekey_store_one_time_count(bob_store, &count));
    EXPECT(count == 4);
    printf("   Bob's store saved and restored: %zu one-time prekeys left\n", count);

    received = receive("Bob", bob, root_key, bob_session, T0 + SECOND_MS, &to_bob_2, alice_key);
    EXPECT(buffer_equals(&received.body, "Are you there?"));
    xc_received_free(&received);
    xc_buffer_free(&to_bob_1);
    xc_buffer_free(&to_bob_2);

    printf("5. Bob turns on disappearing messages (1 hour after sending) and replies.\n");
    CHECK_CODE(xc_session_set_timer(bob_session, T0 + 2 * SECOND_MS, 3600, 7, &inner),
               XC_ERR_INVALID_ARGUMENT);
    CHECK(xc_session_set_timer(bob_session, T0 + 2 * SECOND_MS, 3600, XC_TIMER_START_ON_SEND,
                               &inner));
    XcBuffer to_alice_1 = seal_to(bob, &bob_cert, bob_session, &inner);
    relay_post("alice", &to_alice_1);
    CHECK(xc_session_send(bob_session, T0 + 3 * SECOND_MS, (const uint8_t *)"This one disappears.",
                          20, &inner));
    XcBuffer to_alice_2 = seal_to(bob, &bob_cert, bob_session, &inner);
    relay_post("alice", &to_alice_2);

    printf("6. The relay tampers with one envelope; Alice rejects it, then gets the real ones.\n");
    /* Flip one bit of a copy of the second envelope, near its end (the sealed content). */
    uint8_t *copy = malloc(to_alice_2.len);
    EXPECT(copy != NULL);
    memcpy(copy, to_alice_2.ptr, to_alice_2.len);
    copy[to_alice_2.len - 20] ^= 0x01;
    XcOpened *rejected = NULL;
    CHECK_CODE(xc_open(alice, root_key, 1, NULL, 0, T0 + 4 * SECOND_MS, copy, to_alice_2.len,
                       &rejected),
               XC_ERR_SEALED_DECRYPTION_FAILED);
    EXPECT(rejected == NULL);
    printf("   tampered envelope -> %s\n", xc_error_message(XC_ERR_SEALED_DECRYPTION_FAILED));
    /* Truncated to its header only. */
    CHECK_CODE(xc_open(alice, root_key, 1, NULL, 0, T0 + 4 * SECOND_MS, copy, 60, &rejected),
               XC_ERR_DECODE_TRUNCATED);
    free(copy);

    received = receive("Alice", alice, root_key, alice_session, T0 + 4 * SECOND_MS, &to_alice_1,
                       bob_key);
    EXPECT(received.kind == XC_CONTENT_KIND_TIMER_UPDATE && received.body.len == 0);
    EXPECT(received.timer_changed && received.timer_duration_s == 3600);
    EXPECT(received.timer_start == XC_TIMER_START_ON_SEND && received.timer_version == 1);
    xc_received_free(&received);
    received = receive("Alice", alice, root_key, alice_session, T0 + 4 * SECOND_MS, &to_alice_2,
                       bob_key);
    EXPECT(buffer_equals(&received.body, "This one disappears."));
    EXPECT(received.deadline_kind == XC_DEADLINE_AT);
    EXPECT(received.deadline_ms == T0 + 3 * SECOND_MS + HOUR_MS);
    EXPECT(!received.timer_changed);
    xc_received_free(&received);

    /* The same envelope again: it opens (the certificate is fine) but cannot decrypt twice. */
    opened = open_at(alice, root_key, T0 + 5 * SECOND_MS, &to_alice_2);
    CHECK_CODE(xc_opened_decrypt(&opened, alice_session, &received), XC_ERR_DUPLICATE_MESSAGE);
    EXPECT(received.body.ptr == NULL);
    printf("   replayed envelope -> %s\n", xc_error_message(XC_ERR_DUPLICATE_MESSAGE));
    xc_buffer_free(&to_alice_1);
    xc_buffer_free(&to_alice_2);

    printf("7. Both save and restore their sessions; Alice answers; a late message expires.\n");
    alice_session = save_and_restore_session(alice_session);
    bob_session = save_and_restore_session(bob_session);
    uint8_t peer[XC_KEY_LEN];
    CHECK(xc_session_remote_identity(alice_session, peer));
    EXPECT(memcmp(peer, bob_key, XC_KEY_LEN) == 0);
    CHECK(xc_session_remote_identity(bob_session, peer));
    EXPECT(memcmp(peer, alice_key, XC_KEY_LEN) == 0);

    CHECK(xc_session_send(alice_session, T0 + 6 * SECOND_MS, (const uint8_t *)"Got them all.", 13,
                          &inner));
    XcBuffer to_bob_3 = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_3);
    CHECK(xc_session_send(alice_session, T0 + 7 * SECOND_MS, (const uint8_t *)"Sent long ago...",
                          16, &inner));
    XcBuffer to_bob_4 = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_4);

    received = receive("Bob", bob, root_key, bob_session, T0 + 8 * SECOND_MS, &to_bob_3, alice_key);
    EXPECT(buffer_equals(&received.body, "Got them all."));
    EXPECT(received.deadline_kind == XC_DEADLINE_AT);
    EXPECT(received.deadline_ms == T0 + 6 * SECOND_MS + HOUR_MS);
    xc_received_free(&received);

    opened = open_at(bob, root_key, T0 + 2 * HOUR_MS, &to_bob_4);
    /* Expired on arrival: XC_OK (the session changed: save it), status says there is nothing to show. */
    CHECK(xc_opened_decrypt(&opened, bob_session, &received));
    EXPECT(received.status == XC_RECEIVED_EXPIRED);
    EXPECT(received.body.len == 0);
    xc_received_free(&received);
    printf("   Bob, two hours later -> expired on arrival, nothing shown\n");

    printf("8. Certificates: expired, revoked, or a session that is not the sender's.\n");
    XcOpened *late = NULL;
    CHECK_CODE(xc_open(bob, root_key, 1, NULL, 0, T0 + 2 * DAY_MS, to_bob_3.ptr, to_bob_3.len,
                       &late),
               XC_ERR_SEALED_CERTIFICATE_EXPIRED);
    const uint32_t revoked[] = {1};
    CHECK_CODE(xc_open(bob, root_key, 1, revoked, 1, T0 + 8 * SECOND_MS, to_bob_3.ptr,
                       to_bob_3.len, &late),
               XC_ERR_SEALED_REVOKED_SERVER);
    CHECK_CODE(xc_open(bob, server_key, 1, NULL, 0, T0 + 8 * SECOND_MS, to_bob_3.ptr,
                       to_bob_3.len, &late),
               XC_ERR_SEALED_INVALID_CERTIFICATE);
    opened = open_at(bob, root_key, T0 + 8 * SECOND_MS, &to_bob_3);
    XcOpened *misrouted = opened;
    CHECK_CODE(xc_opened_decrypt(&opened, alice_session, &received),
               XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH);
    /* The wrong session: a routing error, so the envelope is kept for the right one (which has
     * already read this message in step 7, so it is a replay there, and consumed). */
    EXPECT(opened == misrouted && received.body.ptr == NULL);
    CHECK_CODE(xc_opened_decrypt(&opened, bob_session, &received), XC_ERR_DUPLICATE_MESSAGE);
    EXPECT(opened == NULL);
    opened = open_at(bob, root_key, T0 + 8 * SECOND_MS, &to_bob_3);
    CHECK(xc_opened_free(&opened)); /* opened but never decrypted */
    EXPECT(opened == NULL);
    printf("   -> %s; %s; %s; %s\n", xc_error_message(XC_ERR_SEALED_CERTIFICATE_EXPIRED),
           xc_error_message(XC_ERR_SEALED_REVOKED_SERVER),
           xc_error_message(XC_ERR_SEALED_INVALID_CERTIFICATE),
           xc_error_message(XC_ERR_SEALED_SENDER_IDENTITY_MISMATCH));
    xc_buffer_free(&to_bob_3);
    xc_buffer_free(&to_bob_4);

    size_t purged = 0;
    CHECK(xc_session_purge(bob_session, T0 + 3 * HOUR_MS, &purged));
    printf("   Bob purged %zu stale skipped keys\n", purged);

    /* Saved state is self-checking: a damaged blob is refused. */
    XcBuffer saved_session;
    CHECK(xc_session_to_bytes(bob_session, &saved_session));
    saved_session.ptr[saved_session.len / 2] ^= 0x80;
    XcSession *damaged = NULL;
    CHECK_CODE(xc_session_from_bytes(saved_session.ptr, saved_session.len, &damaged),
               XC_ERR_DECODE_CHECKSUM_MISMATCH);
    EXPECT(damaged == NULL);
    xc_buffer_free(&saved_session);

    printf("9. Misusing a handle is reported, and nothing behind it is read (valgrind checks).\n");
    /* A second free through the same variable: the first set it to NULL, so this is a no-op. */
    XcIdentity *carol = NULL;
    CHECK(xc_identity_generate(&carol));
    XcIdentity *carol_copy = carol;
    CHECK(xc_identity_free(&carol));
    EXPECT(carol == NULL);
    CHECK(xc_identity_free(&carol));
    /* A second free through a copy of the pointer: reported; the copy is left as it was. */
    CHECK_CODE(xc_identity_free(&carol_copy), XC_ERR_INVALID_HANDLE);
    EXPECT(carol_copy != NULL);
    /* A use after free, for an identity and for a session. */
    uint8_t key[XC_KEY_LEN];
    CHECK_CODE(xc_identity_public_key(carol_copy, key), XC_ERR_INVALID_HANDLE);
    XcBuffer nothing = {NULL, 0};
    CHECK_CODE(xc_identity_to_bytes(carol_copy, &nothing), XC_ERR_INVALID_HANDLE);
    EXPECT(nothing.ptr == NULL && nothing.len == 0);
    XcSession *stale_session = bob_session;
    bob_session = save_and_restore_session(bob_session); /* frees the old handle */
    CHECK_CODE(xc_session_send(stale_session, T0, (const uint8_t *)"x", 1, &nothing),
               XC_ERR_INVALID_HANDLE);
    CHECK_CODE(xc_session_remote_identity(stale_session, key), XC_ERR_INVALID_HANDLE);
    CHECK_CODE(xc_session_free(&stale_session), XC_ERR_INVALID_HANDLE);
    printf("   second free, use after free -> %s\n", xc_error_message(XC_ERR_INVALID_HANDLE));

    /* A use after consume: xc_opened_decrypt sets `opened` to NULL; a copy is reported. */
    CHECK(xc_session_send(alice_session, T0 + 9 * SECOND_MS, (const uint8_t *)"Still here?", 11,
                          &inner));
    XcBuffer to_bob_5 = seal_to(alice, &alice_cert, alice_session, &inner);
    opened = open_at(bob, root_key, T0 + 9 * SECOND_MS, &to_bob_5);
    XcOpened *opened_copy = opened;
    CHECK(xc_opened_decrypt(&opened, bob_session, &received));
    EXPECT(opened == NULL);
    EXPECT(buffer_equals(&received.body, "Still here?"));
    xc_received_free(&received);
    CHECK_CODE(xc_opened_decrypt(&opened, bob_session, &received), XC_ERR_NULL_POINTER);
    CHECK_CODE(xc_opened_decrypt(&opened_copy, bob_session, &received), XC_ERR_INVALID_HANDLE);
    EXPECT(opened_copy != NULL && received.body.ptr == NULL);
    XcSession *fresh = NULL;
    CHECK_CODE(xc_opened_respond(&opened_copy, bob, bob_store, CONTEXT, CONTEXT_LEN, &fresh,
                                 &received),
               XC_ERR_INVALID_HANDLE);
    EXPECT(fresh == NULL);
    CHECK_CODE(xc_opened_sender_device_id(opened_copy, &device), XC_ERR_INVALID_HANDLE);
    CHECK_CODE(xc_opened_free(&opened_copy), XC_ERR_INVALID_HANDLE);
    xc_buffer_free(&to_bob_5);
    printf("   use after consume -> %s\n", xc_error_message(XC_ERR_INVALID_HANDLE));

    /* A live handle of the wrong type: reported, and it stays valid. */
    CHECK_CODE(xc_identity_public_key((const XcIdentity *)bob_session, key), XC_ERR_INVALID_HANDLE);
    CHECK_CODE(xc_session_send((XcSession *)bob_store, T0, NULL, 0, &nothing),
               XC_ERR_INVALID_HANDLE);
    CHECK_CODE(xc_cert_key_public_key((const XcCertKey *)alice, key), XC_ERR_INVALID_HANDLE);
    XcIdentity *session_as_identity = (XcIdentity *)bob_session;
    CHECK_CODE(xc_identity_free(&session_as_identity), XC_ERR_INVALID_HANDLE);
    EXPECT(session_as_identity == (XcIdentity *)bob_session);
    XcOpened *session_as_opened = (XcOpened *)bob_session;
    CHECK_CODE(xc_opened_decrypt(&session_as_opened, bob_session, &received),
               XC_ERR_INVALID_HANDLE);
    EXPECT(session_as_opened == (XcOpened *)bob_session);
    CHECK(xc_session_remote_identity(bob_session, peer));
    EXPECT(memcmp(peer, alice_key, XC_KEY_LEN) == 0);
    CHECK(xc_prekey_store_one_time_count(bob_store, &count));
    printf("   wrong-type handle -> %s; the real one still works\n",
           xc_error_message(XC_ERR_INVALID_HANDLE));

    /* Pointers the library never issued: uninitialised heap memory (valgrind reports any read
     * of it that decides anything) and a wild address (a read would crash). */
    uint8_t *junk = malloc(64);
    EXPECT(junk != NULL);
    CHECK_CODE(xc_session_to_bytes((const XcSession *)junk, &nothing), XC_ERR_INVALID_HANDLE);
    XcSession *junk_session = (XcSession *)junk;
    CHECK_CODE(xc_session_free(&junk_session), XC_ERR_INVALID_HANDLE);
    XcOpened *junk_opened = (XcOpened *)junk;
    CHECK_CODE(xc_opened_decrypt(&junk_opened, bob_session, &received), XC_ERR_INVALID_HANDLE);
    free(junk);
    const XcIdentity *wild = (const XcIdentity *)(uintptr_t)0x1000;
    CHECK_CODE(xc_identity_public_key(wild, key), XC_ERR_INVALID_HANDLE);
    printf("   pointers never issued -> %s\n", xc_error_message(XC_ERR_INVALID_HANDLE));

    printf("10. Alice loses her session and starts a new one (same identity); Bob answers it.\n");
    XcBuffer fallback;
    CHECK(xc_prekey_store_bundle(bob_store, bob, XC_NO_ONE_TIME_PREKEY, &fallback));
    XcSession *alice_restarted = NULL;
    CHECK(xc_session_initiate(alice, fallback.ptr, fallback.len, NULL, CONTEXT, CONTEXT_LEN,
                              &alice_restarted));
    xc_buffer_free(&fallback);
    CHECK(xc_session_free(&alice_session)); /* the state she lost */
    alice_session = alice_restarted;
    CHECK(xc_session_send(alice_session, T0 + 10 * SECOND_MS, (const uint8_t *)"Hi again!", 9,
                          &inner));
    XcBuffer to_bob_6 = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_6);
    opened = open_at(bob, root_key, T0 + 10 * SECOND_MS, &to_bob_6);
    CHECK(xc_opened_is_prekey_message(opened, &prekey));
    EXPECT(prekey);
    /* Bob has a session for her device whose peer is the certified identity: decrypt first. */
    CHECK(xc_opened_sender_identity(opened, sender_key));
    CHECK(xc_session_remote_identity(bob_session, peer));
    EXPECT(memcmp(peer, sender_key, XC_KEY_LEN) == 0);
    XcOpened *restart_envelope = opened;
    CHECK_CODE(xc_opened_decrypt(&opened, bob_session, &received), XC_ERR_SESSION_MISMATCH);
    /* Not consumed: `opened` is unchanged and live, so the message is not lost. */
    EXPECT(opened != NULL && opened == restart_envelope);
    EXPECT(received.body.ptr == NULL && received.body.len == 0);
    CHECK(xc_opened_sender_device_id(opened, &device));
    EXPECT(device == 1);
    printf("   decrypt with the old session -> %s (envelope kept)\n",
           xc_error_message(XC_ERR_SESSION_MISMATCH));
    /* A prekey message of another session: she started a new one. Respond (this consumes it). */
    XcSession *bob_restarted = NULL;
    CHECK(xc_opened_respond(&opened, bob, bob_store, CONTEXT, CONTEXT_LEN, &bob_restarted,
                            &received));
    EXPECT(opened == NULL && bob_restarted != NULL);
    EXPECT(buffer_equals(&received.body, "Hi again!"));
    EXPECT(received.sent_at_ms == T0 + 10 * SECOND_MS);
    xc_received_free(&received);
    CHECK(xc_session_check_remote_identity(bob_restarted, alice_key)); /* no identity change */
    CHECK(xc_session_free(&bob_session)); /* replaced by the new session */
    bob_session = bob_restarted;
    CHECK(xc_session_send(bob_session, T0 + 11 * SECOND_MS, (const uint8_t *)"Welcome back.", 13,
                          &inner));
    XcBuffer to_alice_3 = seal_to(bob, &bob_cert, bob_session, &inner);
    relay_post("alice", &to_alice_3);
    received = receive("Alice", alice, root_key, alice_session, T0 + 11 * SECOND_MS, &to_alice_3,
                       bob_key);
    EXPECT(buffer_equals(&received.body, "Welcome back."));
    xc_received_free(&received);
    xc_buffer_free(&to_bob_6);
    xc_buffer_free(&to_alice_3);

    printf("8. A group of Alice and Bob: sender keys over the sessions, one sealed group message.\n");
    static const uint8_t group_id[XC_KEY_LEN] = {0x47};
    XcGroup *alice_group = NULL, *bob_group = NULL;
    CHECK(xc_group_new(alice, group_id, bob_key, 1, T0 + 12 * SECOND_MS, &alice_group));
    CHECK(xc_group_new(bob, group_id, alice_key, 1, T0 + 12 * SECOND_MS, &bob_group));
    XcBuffer group_message;
    CHECK_CODE(xc_group_send(alice_group, T0 + 12 * SECOND_MS, (const uint8_t *)"x", 1,
                             &group_message),
               XC_ERR_GROUP_DISTRIBUTION_PENDING);
    XcBuffer distribution, lacking;
    CHECK(xc_group_distribution(alice_group, T0 + 12 * SECOND_MS, &distribution, &lacking));
    EXPECT(distribution.len == XC_SENDER_KEY_DISTRIBUTION_LEN && lacking.len == XC_KEY_LEN);
    EXPECT(memcmp(lacking.ptr, bob_key, XC_KEY_LEN) == 0);
    CHECK(xc_session_send_sender_key(alice_session, T0 + 12 * SECOND_MS, distribution.ptr,
                                     distribution.len, &inner));
    XcBuffer to_bob_key = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_key);
    XcOpened *key_envelope = open_at(bob, root_key, T0 + 12 * SECOND_MS, &to_bob_key);
    CHECK(xc_opened_decrypt(&key_envelope, bob_session, &received));
    EXPECT(received.kind == XC_CONTENT_KIND_SENDER_KEY);
    CHECK(xc_group_process_distribution(bob_group, alice_key, received.body.ptr,
                                        received.body.len));
    xc_received_free(&received);
    CHECK(xc_group_mark_distributed(alice_group, lacking.ptr, distribution.ptr, distribution.len));
    xc_buffer_free(&distribution);
    xc_buffer_free(&lacking);
    xc_buffer_free(&to_bob_key);
    CHECK(xc_group_send(alice_group, T0 + 13 * SECOND_MS, (const uint8_t *)"Hello, group.", 13,
                        &group_message));
    XcBuffer upload;
    CHECK(xc_seal_for_group(alice, alice_cert.ptr, alice_cert.len, alice_group,
                            group_message.ptr, group_message.len, &upload));
    xc_buffer_free(&group_message);
    XcBuffer group_envelope;
    CHECK(xc_split_for_recipient(upload.ptr, upload.len, 0, &group_envelope));
    CHECK_CODE(xc_split_for_recipient(upload.ptr, upload.len, 1, &none),
               XC_ERR_DECODE_NON_CANONICAL);
    printf("   relay got one upload of %zu bytes and delivered %zu to bob\n", upload.len,
           group_envelope.len);
    xc_buffer_free(&upload);
    XcOpenedGroup *opened_group = NULL;
    CHECK(xc_open_group(bob, root_key, 1, NULL, 0, T0 + 13 * SECOND_MS, group_envelope.ptr,
                        group_envelope.len, &opened_group));
    CHECK(xc_opened_group_receive(&opened_group, bob_group, &received));
    EXPECT(opened_group == NULL && buffer_equals(&received.body, "Hello, group."));
    printf("   Bob read the group message: %.*s\n", (int)received.body.len,
           (const char *)received.body.ptr);
    xc_received_free(&received);
    /* A replay of the same envelope: the group refuses it and changes nothing. */
    CHECK(xc_open_group(bob, root_key, 1, NULL, 0, T0 + 13 * SECOND_MS, group_envelope.ptr,
                        group_envelope.len, &opened_group));
    CHECK_CODE(xc_opened_group_receive(&opened_group, bob_group, &received),
               XC_ERR_DUPLICATE_MESSAGE);
    xc_buffer_free(&group_envelope);
    XcBuffer saved_group;
    CHECK(xc_group_to_bytes(bob_group, &saved_group));
    CHECK(xc_group_free(&bob_group));
    CHECK(xc_group_from_bytes(saved_group.ptr, saved_group.len, &bob_group));
    xc_buffer_free(&saved_group);
    CHECK(xc_group_free(&alice_group));
    CHECK(xc_group_free(&bob_group));

    printf("11. Alice sends Bob a 40 KB attachment: sealed chunk by chunk, described in a message.\n");
    enum { FILE_LEN = 40000 };
    uint8_t *photo = malloc(FILE_LEN);
    EXPECT(photo != NULL);
    for (size_t i = 0; i < FILE_LEN; i++) photo[i] = (uint8_t)(i * 31 + (i >> 9));
    XcAttachmentEncryptor *encryptor = NULL;
    CHECK(xc_attachment_encryptor_new(FILE_LEN, &encryptor));
    uint64_t stored_len = 0;
    CHECK(xc_attachment_encryptor_encrypted_len(encryptor, &stored_len));
    /* What the server stores: the header, then every sealed chunk. */
    uint8_t *blob = malloc((size_t)stored_len);
    EXPECT(blob != NULL);
    XcBuffer piece;
    CHECK(xc_attachment_encryptor_header(encryptor, &piece));
    EXPECT(piece.len == XC_ATTACHMENT_HEADER_LEN);
    memcpy(blob, piece.ptr, piece.len);
    size_t blob_len = piece.len;
    xc_buffer_free(&piece);
    size_t fed = 0, take_len = 0;
    bool has_next = false;
    unsigned chunks = 0;
    CHECK(xc_attachment_encryptor_next_input_len(encryptor, &take_len, &has_next));
    while (has_next) {
        CHECK(xc_attachment_encryptor_seal_next(encryptor, photo + fed, take_len, &piece));
        EXPECT(blob_len + piece.len <= stored_len);
        memcpy(blob + blob_len, piece.ptr, piece.len);
        blob_len += piece.len;
        fed += take_len;
        chunks++;
        xc_buffer_free(&piece);
        CHECK(xc_attachment_encryptor_next_input_len(encryptor, &take_len, &has_next));
    }
    EXPECT(fed == FILE_LEN && blob_len == stored_len);
    CHECK_CODE(xc_attachment_encryptor_seal_next(encryptor, NULL, 0, &piece),
               XC_ERR_ATTACHMENT_FINISHED);
    printf("   %u chunks, %zu bytes stored for a %d-byte file (padded, a tag per chunk)\n", chunks,
           blob_len, FILE_LEN);
    static const char content_type[] = "image/jpeg", file_name[] = "beach.jpg",
                      location[] = "blob/7f3a";
    XcAttachmentEncryptor *encryptor_copy = encryptor;
    XcBuffer descriptor;
    CHECK(xc_attachment_encryptor_finish(&encryptor, (const uint8_t *)content_type,
                                         strlen(content_type), (const uint8_t *)file_name,
                                         strlen(file_name), NULL, 0, (const uint8_t *)location,
                                         strlen(location), &descriptor));
    EXPECT(encryptor == NULL); /* consumed; a copy of the handle is stale */
    CHECK_CODE(xc_attachment_encryptor_free(&encryptor_copy), XC_ERR_INVALID_HANDLE);
    CHECK(xc_session_send_attachment(alice_session, T0 + 14 * SECOND_MS, descriptor.ptr,
                                     descriptor.len, &inner));
    xc_buffer_free(&descriptor);
    XcBuffer to_bob_file = seal_to(alice, &alice_cert, alice_session, &inner);
    relay_post("bob", &to_bob_file);
    XcOpened *file_envelope = open_at(bob, root_key, T0 + 14 * SECOND_MS, &to_bob_file);
    CHECK(xc_opened_decrypt(&file_envelope, bob_session, &received));
    xc_buffer_free(&to_bob_file);
    EXPECT(received.kind == XC_CONTENT_KIND_ATTACHMENT);
    uint64_t size = 0;
    bool has_name = false, has_thumbnail = true, has_digest = true;
    XcBuffer got_type, got_name, got_thumbnail, got_location;
    CHECK(xc_attachment_descriptor_info(received.body.ptr, received.body.len, &size, &got_type,
                                        &got_name, &has_name, &got_thumbnail, &has_thumbnail,
                                        &got_location, &has_digest));
    /* No digest: a 1:1 attachment does not need one (a group's does:
     * xc_attachment_encryptor_new_with_digest). */
    EXPECT(size == FILE_LEN && has_name && !has_thumbnail && !has_digest);
    EXPECT(buffer_equals(&got_type, content_type) && buffer_equals(&got_name, file_name));
    EXPECT(buffer_equals(&got_location, location) && got_thumbnail.ptr == NULL);
    printf("   Bob learned: %.*s \"%.*s\", %" PRIu64 " bytes at %.*s\n", (int)got_type.len,
           (const char *)got_type.ptr, (int)got_name.len, (const char *)got_name.ptr, size,
           (int)got_location.len, (const char *)got_location.ptr);
    xc_buffer_free(&got_type);
    xc_buffer_free(&got_name);
    xc_buffer_free(&got_thumbnail);
    xc_buffer_free(&got_location);
    /* The decryptor needs the stored stream's header: its first XC_ATTACHMENT_HEADER_LEN bytes. */
    XcAttachmentDecryptor *decryptor = NULL;
    CHECK_CODE(xc_attachment_decryptor_new(received.body.ptr, received.body.len, blob,
                                           XC_ATTACHMENT_HEADER_LEN - 1, &decryptor),
               XC_ERR_ATTACHMENT_TRUNCATED);
    EXPECT(decryptor == NULL);
    CHECK(xc_attachment_decryptor_new(received.body.ptr, received.body.len, blob,
                                      XC_ATTACHMENT_HEADER_LEN, &decryptor));
    xc_received_free(&received);
    CHECK(xc_attachment_decryptor_check_stored_len(decryptor, blob_len));
    CHECK_CODE(xc_attachment_decryptor_check_stored_len(decryptor, blob_len - 1),
               XC_ERR_ATTACHMENT_TRUNCATED);
    uint64_t chunk_count = 0;
    CHECK(xc_attachment_decryptor_chunk_count(decryptor, &chunk_count));
    EXPECT(chunk_count == chunks);
    /* A chunk altered in storage is refused and does not advance the decryptor. */
    uint64_t start = 0, end = 0;
    CHECK(xc_attachment_decryptor_encrypted_range(decryptor, 0, &start, &end));
    blob[start + 10] ^= 0x01;
    CHECK_CODE(xc_attachment_decryptor_open_next(decryptor, blob + start, (size_t)(end - start),
                                                 &piece),
               XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION);
    blob[start + 10] ^= 0x01;
    printf("   a chunk altered in storage -> %s\n",
           xc_error_message(XC_ERR_ATTACHMENT_CHUNK_AUTHENTICATION));
    /* In order, chunk by chunk, each compared with Alice's file. */
    size_t opened_len = 0;
    bool complete = true;
    for (uint64_t i = 0; i < chunk_count; i++) {
        CHECK(xc_attachment_decryptor_is_complete(decryptor, &complete));
        EXPECT(!complete);
        uint64_t file_start = 0, file_end = 0;
        CHECK(xc_attachment_decryptor_encrypted_range(decryptor, i, &start, &end));
        CHECK(xc_attachment_decryptor_file_range(decryptor, i, &file_start, &file_end));
        CHECK(xc_attachment_decryptor_open_next(decryptor, blob + start, (size_t)(end - start),
                                                &piece));
        EXPECT(piece.len == file_end - file_start && file_start == opened_len);
        EXPECT(piece.len == 0 || memcmp(piece.ptr, photo + file_start, piece.len) == 0);
        opened_len += piece.len;
        xc_buffer_free(&piece);
    }
    CHECK(xc_attachment_decryptor_is_complete(decryptor, &complete));
    EXPECT(complete && opened_len == FILE_LEN);
    /* Seeking: the middle chunk alone, decrypted in place within the stored bytes. */
    uint64_t file_start = 0, file_end = 0;
    CHECK(xc_attachment_decryptor_encrypted_range(decryptor, 1, &start, &end));
    CHECK(xc_attachment_decryptor_file_range(decryptor, 1, &file_start, &file_end));
    size_t plain_len = 0;
    CHECK(xc_attachment_decryptor_open_chunk_in_place(decryptor, 1, blob + start,
                                                      (size_t)(end - start), &plain_len));
    EXPECT(plain_len == file_end - file_start);
    EXPECT(memcmp(blob + start, photo + file_start, plain_len) == 0);
    printf("   Bob opened all %" PRIu64 " chunks in order and chunk 1 alone: the file matches\n",
           chunk_count);
    CHECK(xc_attachment_decryptor_free(&decryptor));
    EXPECT(decryptor == NULL);
    free(blob);
    free(photo);

    printf("12. Accounts: a safety number on both sides, and a ghost device refused.\n");
    XcAccountKey *alice_account = NULL, *bob_account = NULL;
    CHECK(xc_account_key_generate(&alice_account));
    CHECK(xc_account_key_generate(&bob_account));
    uint8_t alice_account_key[XC_KEY_LEN], bob_account_key[XC_KEY_LEN];
    CHECK(xc_account_key_public_key(alice_account, alice_account_key));
    CHECK(xc_account_key_public_key(bob_account, bob_account_key));
    XcSafetyNumber *on_alice = NULL, *on_bob = NULL;
    CHECK(xc_safety_number_new(alice_account_key, (const uint8_t *)"alice", 5, bob_account_key,
                               (const uint8_t *)"bob", 3, &on_alice));
    CHECK(xc_safety_number_new(bob_account_key, (const uint8_t *)"bob", 3, alice_account_key,
                               (const uint8_t *)"alice", 5, &on_bob));
    XcBuffer digits_a, digits_b, qr;
    CHECK(xc_safety_number_digits(on_alice, &digits_a));
    CHECK(xc_safety_number_digits(on_bob, &digits_b));
    EXPECT(digits_a.len == XC_SAFETY_NUMBER_DIGITS_LEN && digits_b.len == digits_a.len);
    EXPECT(memcmp(digits_a.ptr, digits_b.ptr, digits_a.len) == 0);
    CHECK(xc_safety_number_qr_payload(on_alice, &qr));
    EXPECT(qr.len == XC_SAFETY_NUMBER_QR_LEN);
    uint32_t comparison = XC_SAFETY_NUMBER_MISMATCH;
    CHECK(xc_safety_number_compare(on_bob, qr.ptr, qr.len, &comparison, NULL)); /* Bob scans */
    EXPECT(comparison == XC_SAFETY_NUMBER_MATCH);
    CHECK(xc_safety_number_compare(on_alice, qr.ptr, qr.len, &comparison, NULL)); /* her own */
    EXPECT(comparison == XC_SAFETY_NUMBER_MISMATCH);
    printf("   both see %.*s; Bob's scan of Alice's code matches\n", (int)digits_a.len,
           (const char *)digits_a.ptr);
    xc_buffer_free(&digits_a);
    xc_buffer_free(&digits_b);
    xc_buffer_free(&qr);
    CHECK(xc_safety_number_free(&on_alice));
    CHECK(xc_safety_number_free(&on_bob));
    /* Bob's device signs its membership; his account key lists it; the server stores the list. */
    XcBuffer bob_entry, bob_list;
    CHECK(xc_device_entry_sign(bob, bob_account_key, 1, T0, &bob_entry));
    EXPECT(bob_entry.len == XC_DEVICE_ENTRY_LEN);
    CHECK(xc_device_list_first(bob_account, bob_entry.ptr, 1, T0, &bob_list));
    xc_buffer_free(&bob_entry);
    XcContact *bob_contact = NULL;
    CHECK(xc_contact_new(bob_list.ptr, bob_list.len, &bob_contact));
    xc_buffer_free(&bob_list);
    /* The server hands out the bundle of a device Bob's account never listed. */
    XcIdentity *ghost = NULL;
    XcPreKeyStore *ghost_store = NULL;
    CHECK(xc_identity_generate(&ghost));
    CHECK(xc_prekey_store_new(&ghost_store));
    CHECK(xc_prekey_store_rotate_signed_prekey(ghost_store, ghost, T0, NULL));
    CHECK(xc_prekey_store_rotate_kem_prekey(ghost_store, ghost, T0, NULL));
    XcBuffer ghost_bundle, bob_bundle;
    CHECK(xc_prekey_store_bundle(ghost_store, ghost, XC_NO_ONE_TIME_PREKEY, &ghost_bundle));
    uint32_t device_id = UINT32_MAX;
    CHECK_CODE(xc_contact_initiate(bob_contact, alice, ghost_bundle.ptr, ghost_bundle.len, CONTEXT,
                                   CONTEXT_LEN, &device_id),
               XC_ERR_UNKNOWN_DEVICE);
    EXPECT(device_id == UINT32_MAX);
    printf("   ghost device's bundle -> %s\n", xc_error_message(XC_ERR_UNKNOWN_DEVICE));
    CHECK(xc_prekey_store_bundle(bob_store, bob, XC_NO_ONE_TIME_PREKEY, &bob_bundle));
    CHECK(xc_contact_initiate(bob_contact, alice, bob_bundle.ptr, bob_bundle.len, CONTEXT,
                              CONTEXT_LEN, &device_id));
    EXPECT(device_id == 1);
    xc_buffer_free(&ghost_bundle);
    xc_buffer_free(&bob_bundle);
    CHECK(xc_contact_free(&bob_contact));
    CHECK(xc_prekey_store_free(&ghost_store));
    CHECK(xc_identity_free(&ghost));
    CHECK(xc_account_key_free(&alice_account));
    CHECK(xc_account_key_free(&bob_account));
    EXPECT(!bob_contact && !ghost && !ghost_store && !alice_account && !bob_account);

    CHECK(xc_session_free(&alice_session));
    CHECK(xc_session_free(&bob_session));
    CHECK(xc_prekey_store_free(&bob_store));
    CHECK(xc_identity_free(&alice));
    CHECK(xc_identity_free(&bob));
    xc_buffer_free(&alice_cert);
    xc_buffer_free(&bob_cert);
    xc_buffer_free(&server_cert);
    CHECK(xc_cert_key_free(&root));
    CHECK(xc_cert_key_free(&server));
    EXPECT(!alice_session && !bob_session && !bob_store && !alice && !bob && !root && !server);
    printf("OK: the conversation, the group, the attachment and the accounts ran through the C"
           " ABI.\n");
    return 0;
}
