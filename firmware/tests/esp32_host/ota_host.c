/* ota_esp32.c on the host: the board's OTA shell linked against fakes of esp_partition
 * (RAM slots that count their mappings), NVS (RAM) and esp-mqtt (records what is
 * published) -- fakes at seams this project owns, named as such -- driven by lines on
 * stdin so pytest can hand it real protocol bytes in esp-mqtt's pieces:
 *
 *   boot                         ota_esp32_boot + ota_esp32_on_connect (prefix ec/v1, dev1)
 *   data TOPIC|- TOTAL OFF HEX   one MQTT_EVENT_DATA piece ("-": no topic, as esp-mqtt
 *                                gives later pieces) -> "ours 0|1"
 *   poll ok|fail                 ota_esp32_poll with a self-test that passes or fails
 *   stats                        "maps N live N restarts N dropped N status HEX"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_partition.h"
#include "esp_system.h"
#include "mqtt_client.h"
#include "nvs.h"
#include "ota_esp32.h"

#define SLOT_BYTES (128u * 1024u)

/* ------------------------------------------------------------ fake esp_partition */
static uint8_t s_flash[2][SLOT_BYTES];
static esp_partition_t s_parts[2] = {
    {NULL, ESP_PARTITION_TYPE_DATA, 0x40, 0x3A0000, SLOT_BYTES, 4096, "model_0", 0, 0},
    {NULL, ESP_PARTITION_TYPE_DATA, 0x40, 0x3C0000, SLOT_BYTES, 4096, "model_1", 0, 0},
};
static unsigned s_maps;      /* esp_partition_mmap calls that succeeded */
static unsigned s_live_maps; /* not yet esp_partition_munmap'ed */
static unsigned s_restarts;

static uint8_t *flash_of(const esp_partition_t *p)
{
    return s_flash[p == &s_parts[0] ? 0 : 1];
}

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type,
                                                esp_partition_subtype_t sub, const char *label)
{
    (void)type;
    (void)sub;
    return strcmp(label, "model_0") == 0 ? &s_parts[0]
           : strcmp(label, "model_1") == 0 ? &s_parts[1]
                                           : NULL;
}

esp_err_t esp_partition_erase_range(const esp_partition_t *p, size_t off, size_t len)
{
    if (off + len > p->size) {
        return ESP_ERR_INVALID_ARG;
    }
    memset(flash_of(p) + off, 0xFF, len);
    return ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t *p, size_t off, const void *src, size_t len)
{
    if (off + len > p->size) {
        return ESP_ERR_INVALID_ARG;
    }
    memcpy(flash_of(p) + off, src, len);
    return ESP_OK;
}

esp_err_t esp_partition_read(const esp_partition_t *p, size_t off, void *dst, size_t len)
{
    if (off + len > p->size) {
        return ESP_ERR_INVALID_ARG;
    }
    memcpy(dst, flash_of(p) + off, len);
    return ESP_OK;
}

esp_err_t esp_partition_mmap(const esp_partition_t *p, size_t off, size_t len,
                             esp_partition_mmap_memory_t mem, const void **out,
                             esp_partition_mmap_handle_t *handle)
{
    (void)mem;
    if (off + len > p->size) {
        return ESP_ERR_INVALID_ARG;
    }
    *out = flash_of(p) + off;
    *handle = ++s_maps;
    s_live_maps++;
    return ESP_OK;
}

void esp_partition_munmap(esp_partition_mmap_handle_t handle)
{
    if (handle == 0 || handle > s_maps || s_live_maps == 0) {
        fprintf(stderr, "munmap of a handle never mapped\n");
        exit(3);
    }
    s_live_maps--;
}

void esp_restart(void)
{
    s_restarts++; /* the board would restart here; the host carries on */
}

/* ------------------------------------------------------------ fake NVS */
#define NVS_KEYS 8
static struct {
    char key[16];
    uint8_t val[64];
    size_t len;
} s_nvs[NVS_KEYS];

esp_err_t nvs_open(const char *ns, nvs_open_mode_t mode, nvs_handle_t *h)
{
    (void)ns;
    (void)mode;
    *h = 1;
    return ESP_OK;
}

esp_err_t nvs_get_blob(nvs_handle_t h, const char *key, void *out, size_t *len)
{
    int i;
    (void)h;
    for (i = 0; i < NVS_KEYS; i++) {
        if (strcmp(s_nvs[i].key, key) == 0) {
            if (*len < s_nvs[i].len) {
                return ESP_ERR_NVS_INVALID_LENGTH;
            }
            memcpy(out, s_nvs[i].val, s_nvs[i].len);
            *len = s_nvs[i].len;
            return ESP_OK;
        }
    }
    return ESP_ERR_NVS_NOT_FOUND;
}

esp_err_t nvs_set_blob(nvs_handle_t h, const char *key, const void *val, size_t len)
{
    int i;
    (void)h;
    if (len > sizeof s_nvs[0].val) {
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    for (i = 0; i < NVS_KEYS; i++) {
        if (strcmp(s_nvs[i].key, key) == 0 || s_nvs[i].key[0] == '\0') {
            strncpy(s_nvs[i].key, key, sizeof s_nvs[i].key - 1u);
            memcpy(s_nvs[i].val, val, len);
            s_nvs[i].len = len;
            return ESP_OK;
        }
    }
    return ESP_ERR_NVS_NO_FREE_PAGES;
}

esp_err_t nvs_commit(nvs_handle_t h)
{
    (void)h;
    return ESP_OK;
}

void nvs_close(nvs_handle_t h)
{
    (void)h;
}

/* ------------------------------------------------------------ fake esp-mqtt */
static uint8_t s_status[256];
static size_t s_status_len;

int esp_mqtt_client_enqueue(esp_mqtt_client_handle_t c, const char *topic, const char *data,
                            int len, int qos, int retain, _Bool store)
{
    size_t tl = strlen(topic);
    (void)c;
    (void)qos;
    (void)retain;
    (void)store;
    if (tl >= 4 && strcmp(topic + tl - 4, "/ota") == 0 && (size_t)len <= sizeof s_status) {
        memcpy(s_status, data, (size_t)len);
        s_status_len = (size_t)len;
    }
    return 1;
}

int esp_mqtt_client_subscribe(esp_mqtt_client_handle_t c, const char *topic, int qos)
{
    (void)c;
    (void)topic;
    (void)qos;
    return 1;
}

int esp_mqtt_client_unsubscribe(esp_mqtt_client_handle_t c, const char *topic)
{
    (void)c;
    (void)topic;
    return 1;
}

/* ------------------------------------------------------------ driver */
static const uint8_t s_builtin[16] = {0};
static int s_self_test_rc;

static uint64_t now_ms(void)
{
    return 1700000000000ull;
}

static int self_test(void *ctx, const uint8_t *model)
{
    (void)ctx;
    (void)model;
    return s_self_test_rc;
}

static int unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2u;
    size_t i;
    if (n > cap) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)n;
}

int main(void)
{
    static char line[40000];
    static uint8_t data[20000];
    static char topic[300];
    ota_running_t run;
    while (fgets(line, sizeof line, stdin) != NULL) {
        char hex[sizeof line];
        int total;
        int off;
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "boot") == 0) {
            ota_esp32_set_clock(now_ms);
            ota_esp32_boot(s_builtin, "mnist-mcu", 1, 65536u, &run);
            ota_esp32_on_connect((esp_mqtt_client_handle_t)&run, "ec/v1", "dev1");
            printf("booted v%u\n", (unsigned)run.version);
        } else if (sscanf(line, "data %299s %d %d %39999s", topic, &total, &off, hex) == 4) {
            esp_mqtt_event_t ev;
            int n = unhex(hex, data, sizeof data);
            if (n < 0) {
                printf("bad hex\n");
                continue;
            }
            memset(&ev, 0, sizeof ev);
            ev.event_id = MQTT_EVENT_DATA;
            ev.data = (char *)data;
            ev.data_len = n;
            ev.total_data_len = total;
            ev.current_data_offset = off;
            if (strcmp(topic, "-") != 0) {
                ev.topic = topic;
                ev.topic_len = (int)strlen(topic);
            }
            printf("ours %d\n", ota_esp32_on_data(&ev) ? 1 : 0);
        } else if (strncmp(line, "poll ", 5) == 0) {
            s_self_test_rc = strcmp(line + 5, "ok") == 0 ? 0 : (int)EC_OTA_SELF_TEST_FAILED;
            ota_esp32_poll(self_test, NULL);
            printf("polled\n");
        } else if (strcmp(line, "stats") == 0) {
            size_t i;
            printf("maps %u live %u restarts %u dropped %u status ", s_maps, s_live_maps,
                   s_restarts, (unsigned)ota_esp32_dropped_messages());
            for (i = 0; i < s_status_len; i++) {
                printf("%02x", s_status[i]);
            }
            printf("%s\n", s_status_len ? "" : "-");
        } else {
            printf("unknown command\n");
        }
        fflush(stdout);
    }
    return 0;
}
