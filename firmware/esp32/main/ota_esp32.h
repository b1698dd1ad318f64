/* ota_esp32.h - model updates over the air on the board: the ESP32 shell around
 * core/ec_ota.h. Slots are the model_0 / model_1 data partitions (partitions.csv,
 * subtype 0x40); the slot record and each slot's model version and thresholds are NVS
 * blobs (namespace "edgecascade": ota_rec, ota_m0, ota_m1). Slot 0 without an ota_m0
 * blob means the model compiled into the app (generated/mcu_model_data.c).
 *
 * Boot: ota_esp32_boot() counts a trial boot and rolls back an unconfirmed one, then
 * says which model to run. MQTT: ota_esp32_on_connect() subscribes to the tier's
 * manifest; ota_esp32_on_data() takes manifest and chunk messages (chunks are written
 * to the inactive partition from the MQTT task). Main loop: ota_esp32_poll() verifies a
 * complete download (sha256 of the partition as read back), runs the app's self-test,
 * publishes the OtaStatus, and restarts into the new slot on trial; the app calls
 * ota_esp32_confirm() after the first good inference. */
#ifndef OTA_ESP32_H
#define OTA_ESP32_H

#include <stdbool.h>
#include <stdint.h>

#include "ec_ota.h"
#include "mqtt_client.h"

typedef struct {
    const uint8_t *model; /* flatbuffer to run: mmapped partition or the compiled-in array */
    uint32_t version;
    bool has_thresholds;  /* thresholds pinned by the slot's manifest */
    float conf_threshold;
    float margin_threshold;
    float complexity_limit;
    bool trial;           /* first boot of a new slot: confirm after a good inference */
    bool rolled_back;     /* the last trial never confirmed: we are back on the old slot */
} ota_running_t;

/* arena_bytes: the arena a model may use (manifests needing more are arena_too_small). */
void ota_esp32_boot(const uint8_t *builtin_model, const char *model_id, uint32_t builtin_version,
                    uint32_t arena_bytes, ota_running_t *run);
void ota_esp32_confirm(void);
/* The clock OtaStatus.ts_ms is read from (the app's wall clock). */
void ota_esp32_set_clock(uint64_t (*now_ms)(void));
void ota_esp32_on_connect(esp_mqtt_client_handle_t client, const char *prefix,
                          const char *device_id);
bool ota_esp32_on_data(esp_mqtt_event_handle_t ev);
/* OTA messages dropped for being larger than any manifest or chunk. */
uint32_t ota_esp32_dropped_messages(void);
/* self_test(ctx, model bytes) -> 0, EC_OTA_LOAD_FAILED or EC_OTA_SELF_TEST_FAILED. */
typedef int (*ota_esp32_self_test_fn)(void *ctx, const uint8_t *model);
void ota_esp32_poll(ota_esp32_self_test_fn self_test, void *ctx);

#endif
