/* ec_ota.h - model updates over the air: manifest and chunk decoding, assembly into the
 * inactive model slot, sha256 verification, the arena check, and the slot record's
 * switch / trial / rollback state machine. Twin of firmware/emulator/ota.py.
 *
 * The flow (the app drives it; nothing here touches flash or the network):
 *   ec_manifest_decode -> ec_ota_admit (too_large / arena_too_small answered at once)
 *   -> ec_ota_begin (erases the inactive slot through the seam)
 *   -> ec_chunk_decode + ec_ota_chunk for each retained chunk (written at its offset)
 *   -> ec_ota_install once complete: sha256 of the slot as read back, the app's
 *      self-test hook (load in the real arena, run stored frames), then the slot record
 *      switches to the new slot on trial. ec_ota_boot at each start counts the trial;
 *      a second boot still on trial rolls back; ec_ota_confirm ends the trial.
 * Reasons are the wire strings of protocol/ota_messages.py OTA_REASONS, in order.
 */
#ifndef EC_OTA_H
#define EC_OTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ec_err.h"
#include "../generated/ec_limits.h" /* EC_MAX_MODEL_*, EC_MAX_ID_LENGTH: protocol/limits.py */

/* ---- sha256 (FIPS 180-4), small and portable; EC_SHA256_BYTES from ec_limits.h ---- */

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t fill;
} ec_sha256_t;

void ec_sha256_init(ec_sha256_t *s);
void ec_sha256_update(ec_sha256_t *s, const uint8_t *data, size_t len);
void ec_sha256_final(ec_sha256_t *s, uint8_t out[EC_SHA256_BYTES]);

/* ---- messages ---- */
typedef struct {
    char model_id[EC_MAX_ID_LENGTH + 1u];
    uint32_t version;
    char tier[8];
    uint8_t sha256[EC_SHA256_BYTES];
    uint32_t size;
    uint32_t arena_bytes;
    uint32_t chunk_bytes;
    float conf_threshold;
    float margin_threshold;
    float complexity_limit;
    bool targets_me; /* no device list, or device_id is in it */
} ec_manifest_t;

typedef struct {
    char model_id[EC_MAX_ID_LENGTH + 1u];
    uint32_t version;
    uint16_t index;
    uint32_t offset;
    const uint8_t *data; /* inside the decoded buffer */
    uint32_t len;
} ec_chunk_t;

/* Decode a ModelManifest (rules of ModelManifest.check included); device_id decides
 * targets_me. bad_key (may be NULL) gets the offending field key, -1 for the whole. */
int ec_manifest_decode(const uint8_t *data, size_t len, const char *device_id,
                       ec_manifest_t *out, int *bad_key);
int ec_chunk_decode(const uint8_t *data, size_t len, ec_chunk_t *out, int *bad_key);
uint32_t ec_manifest_chunks(const ec_manifest_t *m);

/* ---- decisions and reasons ---- */
typedef enum {
    EC_OTA_OK = 0,
    EC_OTA_IN_PROGRESS,
    EC_OTA_TOO_LARGE,
    EC_OTA_ARENA_TOO_SMALL,
    EC_OTA_BAD_CHUNK,
    EC_OTA_SHA256_MISMATCH,
    EC_OTA_LOAD_FAILED,
    EC_OTA_SELF_TEST_FAILED,
    EC_OTA_STORAGE,
    EC_OTA_REASON_COUNT
} ec_ota_reason_t;

typedef enum {
    EC_OTA_START = 0,
    EC_OTA_IGNORE = 1,
    EC_OTA_REJECT = 2 /* reason says why */
} ec_ota_verdict_t;

const char *ec_ota_reason_name(ec_ota_reason_t reason);

/* Whether to download: not addressed to us / another model / already running -> IGNORE;
 * size over the slot -> REJECT too_large; measured arena over ours -> REJECT
 * arena_too_small. */
ec_ota_verdict_t ec_ota_admit(const ec_manifest_t *m, const char *model_id,
                              uint32_t running_version, uint32_t arena_bytes,
                              uint32_t slot_bytes, ec_ota_reason_t *reason);

/* ---- the slot seam (ESP32: esp_partition on model_0/model_1; host: RAM) ---- */
typedef struct {
    int (*erase)(void *ctx, int slot, uint32_t size);
    int (*write)(void *ctx, int slot, uint32_t offset, const uint8_t *data, size_t len);
    int (*read)(void *ctx, int slot, uint32_t offset, uint8_t *data, size_t len);
    void *ctx;
} ec_ota_slots_t;

/* The app's self-test of the model now in `slot`: 0 when it passes, EC_OTA_LOAD_FAILED
 * or EC_OTA_SELF_TEST_FAILED (as an int) otherwise. */
typedef int (*ec_ota_self_test_fn)(void *ctx, int slot, const ec_manifest_t *m);

typedef struct {
    uint8_t active; /* 0 or 1 */
    bool trial;     /* the active slot has not confirmed yet */
    uint8_t tries;  /* boots on trial */
} ec_ota_record_t;

typedef struct {
    ec_manifest_t manifest;
    int slot; /* the inactive slot being written */
    uint8_t have[(EC_MAX_MODEL_CHUNKS + 7u) / 8u];
    uint32_t received;
    bool busy;
} ec_ota_t;

typedef enum {
    EC_OTA_CHUNK_STORED = 0,
    EC_OTA_CHUNK_DUPLICATE = 1
} ec_ota_chunk_outcome_t;

int ec_ota_begin(ec_ota_t *ota, const ec_manifest_t *m, const ec_ota_record_t *record,
                 const ec_ota_slots_t *slots);
/* EC_OTA_CHUNK_STORED / EC_OTA_CHUNK_DUPLICATE (>= 0); EC_ERR_RANGE for a chunk that
 * disagrees with the manifest (bad_chunk); EC_ERR_IO when the slot write failed. */
int ec_ota_chunk(ec_ota_t *ota, const ec_chunk_t *chunk, const ec_ota_slots_t *slots);
bool ec_ota_complete(const ec_ota_t *ota);
/* Verify, self-test and switch; EC_OTA_OK and *record switched (on trial), or why not
 * (record untouched). */
ec_ota_reason_t ec_ota_install(ec_ota_t *ota, const ec_ota_slots_t *slots,
                               ec_ota_self_test_fn self_test, void *ctx,
                               ec_ota_record_t *record);

typedef enum {
    EC_OTA_BOOT_NORMAL = 0,
    EC_OTA_BOOT_TRIAL = 1,
    EC_OTA_BOOT_ROLLED_BACK = 2
} ec_ota_boot_t;

void ec_ota_switch(ec_ota_record_t *record);
ec_ota_boot_t ec_ota_boot(ec_ota_record_t *record);
void ec_ota_confirm(ec_ota_record_t *record);

/* ---- topics (twins of Topics.model_manifest / model_chunk_filter in protocol/topics.py;
 * the device's status topic is ec_topic_build(..., EC_TOPIC_OTA)) ---- */
int ec_ota_topic_manifest(char *buf, size_t cap, const char *prefix, const char *tier);
int ec_ota_topic_chunks(char *buf, size_t cap, const char *prefix, const char *tier,
                        uint32_t version);

/* ---- OtaStatus (device -> fleet, retained): the exact bytes of protocol/vectors ---- */
typedef struct {
    const char *device_id;
    uint64_t ts_ms;
    const char *model_id;
    uint32_t version;
    const char *state; /* "downloading", "applied", "rejected", "rolled_back" */
    ec_ota_reason_t reason;
    uint32_t running_version;
} ec_ota_status_t;

int ec_ota_status_encode(const ec_ota_status_t *st, uint8_t *buf, size_t cap,
                         size_t *out_len);

#endif /* EC_OTA_H */
