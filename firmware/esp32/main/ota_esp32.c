/* Model updates over the air on the ESP32: partitions, NVS and MQTT around core/ec_ota. */
#include "ota_esp32.h"

#include <string.h>

#include "ec_report.h"
#include "ec_topics.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "nvs.h"

#define NVS_NAMESPACE "edgecascade"
#define SUBTYPE_MODEL 0x40
#define SECTOR 4096u
#define TIER "mcu"

static const char *TAG = "ec_ota";

typedef struct {
    uint32_t version;
    uint32_t size;
    float conf_threshold;
    float margin_threshold;
    float complexity_limit;
} slot_meta_t;

static ec_ota_record_t s_record;
static ec_ota_t s_ota;
static const esp_partition_t *s_part[2];
static const char *s_model_id = "";
static uint32_t s_running_version;
static uint32_t s_arena_bytes;
static uint64_t (*s_now_ms)(void);
static volatile bool s_ready; /* a download is complete: verify it in the main loop */
static esp_mqtt_client_handle_t s_client;
static char s_prefix[EC_MAX_TOPIC_BYTES + 1];
static char s_device_id[EC_MAX_ID_LENGTH + 1];
static char s_topic_manifest[EC_MAX_TOPIC_BYTES + 1];
static char s_topic_chunks[EC_MAX_TOPIC_BYTES + 1];
static char s_topic_status[EC_MAX_TOPIC_BYTES + 1];
static uint32_t s_answered_version; /* the newest manifest version answered */
/* one chunk message, reassembled from esp-mqtt's buffer-sized pieces */
static uint8_t s_msg[EC_MODEL_CHUNK_BYTES + 256u];
static size_t s_msg_len;
typedef enum { MSG_NONE, MSG_MANIFEST, MSG_CHUNK } msg_kind_t;
static msg_kind_t s_msg_kind; /* what the message being assembled is */
static int s_msg_total;
static uint32_t s_msg_dropped; /* OTA messages too large for s_msg */
/* the status to publish once connected */
static bool s_status_pending;
static uint32_t s_status_version;
static const char *s_status_state = "";
static ec_ota_reason_t s_status_reason;

/* ---------------------------------------------------------------- storage */
static int nvs_blob(const char *key, void *data, size_t len, bool write)
{
    nvs_handle_t h;
    size_t n = len;
    esp_err_t err = nvs_open(NVS_NAMESPACE, write ? NVS_READWRITE : NVS_READONLY, &h);
    if (err != ESP_OK) {
        return -1;
    }
    err = write ? nvs_set_blob(h, key, data, len) : nvs_get_blob(h, key, data, &n);
    if (err == ESP_OK && write) {
        err = nvs_commit(h);
    }
    nvs_close(h);
    return err == ESP_OK && n == len ? 0 : -1;
}

static int save_record(void)
{
    return nvs_blob("ota_rec", &s_record, sizeof s_record, true);
}

static int slot_meta(int slot, slot_meta_t *meta, bool write)
{
    return nvs_blob(slot == 0 ? "ota_m0" : "ota_m1", meta, sizeof *meta, write);
}

static int part_erase(void *ctx, int slot, uint32_t size)
{
    (void)ctx;
    size = (size + SECTOR - 1u) / SECTOR * SECTOR;
    if (s_part[slot] == NULL || size > s_part[slot]->size) {
        return -1;
    }
    return esp_partition_erase_range(s_part[slot], 0, size) == ESP_OK ? 0 : -1;
}

static int part_write(void *ctx, int slot, uint32_t off, const uint8_t *data, size_t len)
{
    (void)ctx;
    return esp_partition_write(s_part[slot], off, data, len) == ESP_OK ? 0 : -1;
}

static int part_read(void *ctx, int slot, uint32_t off, uint8_t *data, size_t len)
{
    (void)ctx;
    return esp_partition_read(s_part[slot], off, data, len) == ESP_OK ? 0 : -1;
}

static const ec_ota_slots_t s_slots = {part_erase, part_write, part_read, NULL};

/* Map a slot's model for the interpreter to read in place. The running model's mapping
 * lives as long as the app; a self-test's is released (esp_partition_munmap) once the
 * test is over, else each self-test leaks mapping space (MMU pages) until restart. */
static const uint8_t *map_slot(int slot, uint32_t size, esp_partition_mmap_handle_t *handle)
{
    const void *ptr = NULL;
    if (s_part[slot] == NULL ||
        esp_partition_mmap(s_part[slot], 0, size, ESP_PARTITION_MMAP_DATA, &ptr, handle) !=
            ESP_OK) {
        return NULL;
    }
    return ptr;
}

/* ---------------------------------------------------------------- status */
static void set_status(uint32_t version, const char *state, ec_ota_reason_t reason)
{
    uint8_t buf[200];
    size_t len = 0;
    ec_ota_status_t st;
    s_status_version = version;
    s_status_state = state;
    s_status_reason = reason;
    s_status_pending = true;
    ESP_LOGI(TAG, "model v%u: %s (%s)", (unsigned)version, state, ec_ota_reason_name(reason));
    if (s_client == NULL || s_topic_status[0] == '\0') {
        return; /* sent on connect */
    }
    st.device_id = s_device_id;
    st.ts_ms = s_now_ms != NULL ? s_now_ms() : 0u;
    st.model_id = s_model_id;
    st.version = version;
    st.state = state;
    st.reason = reason;
    st.running_version = s_running_version;
    if (ec_ota_status_encode(&st, buf, sizeof buf, &len) == EC_OK &&
        esp_mqtt_client_enqueue(s_client, s_topic_status, (const char *)buf, (int)len, 1, 1,
                                true) >= 0) {
        s_status_pending = false;
    }
}

/* ---------------------------------------------------------------- boot */
void ota_esp32_boot(const uint8_t *builtin_model, const char *model_id, uint32_t builtin_version,
                    uint32_t arena_bytes, ota_running_t *run)
{
    slot_meta_t meta;
    ec_ota_boot_t kind;
    s_model_id = model_id;
    s_arena_bytes = arena_bytes;
    s_part[0] = esp_partition_find_first(ESP_PARTITION_TYPE_DATA,
                                         (esp_partition_subtype_t)SUBTYPE_MODEL, "model_0");
    s_part[1] = esp_partition_find_first(ESP_PARTITION_TYPE_DATA,
                                         (esp_partition_subtype_t)SUBTYPE_MODEL, "model_1");
    memset(run, 0, sizeof *run);
    if (nvs_blob("ota_rec", &s_record, sizeof s_record, false) != 0 || s_record.active > 1u) {
        memset(&s_record, 0, sizeof s_record);
    }
    kind = ec_ota_boot(&s_record);
    (void)save_record();
    run->model = builtin_model;
    run->version = builtin_version;
    if (slot_meta((int)s_record.active, &meta, false) == 0) {
        esp_partition_mmap_handle_t handle; /* mapped for the app's lifetime */
        const uint8_t *mapped = map_slot((int)s_record.active, meta.size, &handle);
        if (mapped != NULL) {
            run->model = mapped;
            run->version = meta.version;
            run->has_thresholds = true;
            run->conf_threshold = meta.conf_threshold;
            run->margin_threshold = meta.margin_threshold;
            run->complexity_limit = meta.complexity_limit;
        }
    }
    run->trial = kind == EC_OTA_BOOT_TRIAL;
    run->rolled_back = kind == EC_OTA_BOOT_ROLLED_BACK;
    s_running_version = run->version;
    s_answered_version = run->version;
    if (run->rolled_back) {
        slot_meta_t other;
        uint32_t v = slot_meta(1 - (int)s_record.active, &other, false) == 0 ? other.version : 0;
        s_answered_version = v;
        set_status(v, "rolled_back", EC_OTA_LOAD_FAILED);
    }
    ESP_LOGI(TAG, "model slot %u, v%u%s", (unsigned)s_record.active, (unsigned)run->version,
             run->trial ? " (trial)" : run->rolled_back ? " (rolled back)" : "");
}

void ota_esp32_set_clock(uint64_t (*now_ms)(void))
{
    s_now_ms = now_ms;
}

void ota_esp32_confirm(void)
{
    if (!s_record.trial) {
        return;
    }
    ec_ota_confirm(&s_record);
    if (save_record() != 0) {
        ESP_LOGW(TAG, "could not confirm the model slot in NVS");
        return;
    }
    set_status(s_running_version, "applied", EC_OTA_OK);
}

/* ---------------------------------------------------------------- MQTT */
void ota_esp32_on_connect(esp_mqtt_client_handle_t client, const char *prefix,
                          const char *device_id)
{
    s_client = client;
    strncpy(s_prefix, prefix, sizeof s_prefix - 1u);
    strncpy(s_device_id, device_id, sizeof s_device_id - 1u);
    if (ec_ota_topic_manifest(s_topic_manifest, sizeof s_topic_manifest, prefix, TIER) != EC_OK ||
        ec_topic_build(s_topic_status, sizeof s_topic_status, prefix, device_id, EC_TOPIC_OTA) !=
            EC_OK) {
        s_topic_status[0] = '\0';
        return;
    }
    esp_mqtt_client_subscribe(client, s_topic_manifest, 1);
    if (s_ota.busy) {
        esp_mqtt_client_subscribe(client, s_topic_chunks, 1);
    }
    if (s_status_pending) {
        set_status(s_status_version, s_status_state, s_status_reason);
    }
}

static bool topic_is(const esp_mqtt_event_handle_t ev, const char *topic)
{
    return ev->topic_len == (int)strlen(topic) && memcmp(ev->topic, topic, strlen(topic)) == 0;
}

static void stop_download(void)
{
    if (s_ota.busy) {
        esp_mqtt_client_unsubscribe(s_client, s_topic_chunks);
    }
    s_ota.busy = false;
}

static void on_manifest(const uint8_t *data, size_t len)
{
    ec_manifest_t m;
    ec_ota_reason_t why = EC_OTA_OK;
    int bad_key = -1;
    int rc = ec_manifest_decode(data, len, s_device_id, &m, &bad_key);
    if (rc != EC_OK) {
        ESP_LOGW(TAG, "manifest rejected: %s (key %d)", ec_err_name(rc), bad_key);
        return;
    }
    if (m.version == s_answered_version || (s_ota.busy && m.version == s_ota.manifest.version)) {
        return; /* answered already, or downloading it */
    }
    int inactive = 1 - (int)s_record.active;
    uint32_t slot_bytes = s_part[inactive] != NULL ? s_part[inactive]->size : 0u;
    switch (ec_ota_admit(&m, s_model_id, s_running_version, s_arena_bytes, slot_bytes, &why)) {
    case EC_OTA_IGNORE: return;
    case EC_OTA_REJECT:
        stop_download();
        s_answered_version = m.version;
        set_status(m.version, "rejected", why);
        return;
    default: break;
    }
    stop_download();
    if (ec_ota_begin(&s_ota, &m, &s_record, &s_slots) != EC_OK ||
        ec_ota_topic_chunks(s_topic_chunks, sizeof s_topic_chunks, s_prefix, TIER, m.version) !=
            EC_OK) {
        s_answered_version = m.version;
        set_status(m.version, "rejected", EC_OTA_STORAGE);
        return;
    }
    esp_mqtt_client_subscribe(s_client, s_topic_chunks, 1);
    set_status(m.version, "downloading", EC_OTA_IN_PROGRESS);
}

static void on_chunk(const uint8_t *data, size_t len)
{
    ec_chunk_t c;
    int rc;
    if (ec_chunk_decode(data, len, &c, NULL) != EC_OK || c.version != s_ota.manifest.version) {
        return; /* another version's retained chunk, or noise */
    }
    rc = ec_ota_chunk(&s_ota, &c, &s_slots);
    if (rc < 0) {
        s_answered_version = s_ota.manifest.version;
        set_status(s_ota.manifest.version, "rejected",
                   rc == EC_ERR_IO ? EC_OTA_STORAGE : EC_OTA_BAD_CHUNK);
        stop_download();
    } else if (ec_ota_complete(&s_ota)) {
        s_ready = true;
    }
}

/* esp-mqtt hands a message larger than its buffer over in pieces, and only the first
 * piece (offset 0) carries the topic unless CONFIG_MQTT_TOPIC_PRESENT_ALL_DATA_EVENTS
 * is set. So the first piece decides whose message it is; a later piece is ours only
 * when it continues, contiguously, the manifest or chunk being assembled. */
bool ota_esp32_on_data(esp_mqtt_event_handle_t ev)
{
    msg_kind_t kind;
    if (ev->current_data_offset == 0) {
        size_t root = strlen(s_topic_chunks); /* the chunk filter without its '+' */
        bool manifest = s_topic_manifest[0] != '\0' && topic_is(ev, s_topic_manifest);
        bool chunk = s_ota.busy && root > 0u && ev->topic_len > 0 &&
                     (size_t)ev->topic_len >= root &&
                     memcmp(ev->topic, s_topic_chunks, root - 1u) == 0;
        s_msg_kind = manifest ? MSG_MANIFEST : chunk ? MSG_CHUNK : MSG_NONE;
        s_msg_len = 0;
        s_msg_total = ev->total_data_len;
        if (s_msg_kind == MSG_NONE) {
            return false; /* another topic's message */
        }
    } else if (s_msg_kind == MSG_NONE || ev->current_data_offset < 0 ||
               (size_t)ev->current_data_offset != s_msg_len ||
               ev->total_data_len != s_msg_total) {
        return false; /* a later piece of a message that is not ours */
    }
    if (ev->total_data_len < 0 || (size_t)ev->total_data_len > sizeof s_msg ||
        ev->data_len < 0 || s_msg_len + (size_t)ev->data_len > sizeof s_msg) {
        s_msg_kind = MSG_NONE; /* larger than any manifest or chunk: dropped */
        s_msg_dropped++;
        return true;
    }
    memcpy(s_msg + s_msg_len, ev->data, (size_t)ev->data_len);
    s_msg_len += (size_t)ev->data_len;
    if (s_msg_len < (size_t)ev->total_data_len) {
        return true;
    }
    kind = s_msg_kind;
    s_msg_kind = MSG_NONE;
    if (kind == MSG_MANIFEST) {
        on_manifest(s_msg, s_msg_len);
    } else if (s_ota.busy) {
        on_chunk(s_msg, s_msg_len);
    }
    return true;
}

uint32_t ota_esp32_dropped_messages(void)
{
    return s_msg_dropped;
}

/* ---------------------------------------------------------------- install */
typedef struct {
    ota_esp32_self_test_fn fn;
    void *ctx;
} self_test_ctx_t;

static int run_self_test(void *ctx, int slot, const ec_manifest_t *m)
{
    const self_test_ctx_t *st = ctx;
    esp_partition_mmap_handle_t handle;
    const uint8_t *model = map_slot(slot, m->size, &handle);
    int rc;
    if (model == NULL) {
        return (int)EC_OTA_LOAD_FAILED;
    }
    rc = st->fn(st->ctx, model); /* the running model is back in the interpreter */
    esp_partition_munmap(handle);
    return rc;
}

void ota_esp32_poll(ota_esp32_self_test_fn self_test, void *ctx)
{
    self_test_ctx_t st = {self_test, ctx};
    ec_ota_reason_t why;
    slot_meta_t meta;
    if (!s_ready) {
        return;
    }
    s_ready = false;
    stop_download();
    s_ota.busy = true; /* ec_ota_install wants the finished assembly */
    why = ec_ota_install(&s_ota, &s_slots, run_self_test, &st, &s_record);
    s_answered_version = s_ota.manifest.version;
    if (why != EC_OTA_OK) {
        set_status(s_ota.manifest.version, "rejected", why);
        return;
    }
    meta.version = s_ota.manifest.version;
    meta.size = s_ota.manifest.size;
    meta.conf_threshold = s_ota.manifest.conf_threshold;
    meta.margin_threshold = s_ota.manifest.margin_threshold;
    meta.complexity_limit = s_ota.manifest.complexity_limit;
    if (slot_meta(s_ota.slot, &meta, true) != 0 || save_record() != 0) {
        ec_ota_switch(&s_record); /* back: nothing was committed */
        s_record.trial = false;
        set_status(s_ota.manifest.version, "rejected", EC_OTA_STORAGE);
        return;
    }
    ESP_LOGI(TAG, "model v%u verified and self-tested: restarting into slot %u (trial)",
             (unsigned)meta.version, (unsigned)s_record.active);
    esp_restart();
}
