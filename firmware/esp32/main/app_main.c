/* edgecascade device: capture -> TFLM int8 inference -> top-k + attach decision ->
 * msgpack report over MQTT (ring buffer while the broker is away), retained birth and
 * last will, thresholds from the retained config topic, serial provisioning.
 *
 * Everything that decides or encodes lives in firmware/core (host-tested, and twinned
 * by the Python emulator); this file only wires it to Wi-Fi, esp-mqtt, TFLM and NVS. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "ec_config.h"
#include "ec_framing.h"
#include "ec_outbox.h"
#include "ec_platform.h"
#include "ec_platform_esp32.h"
#include "ec_policy.h"
#include "ec_prov_settings.h"
#include "ec_report.h"
#include "ec_report_opts.h"
#include "ec_ring.h"
#include "ec_settings.h" /* generated: model id, quantization, thresholds, mean image */
#include "ec_topics.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_sntp.h"
#include "esp_system.h"
#include "esp_wifi.h"
#include "frame_provider.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/task.h"
#include "model_runner.h"
#include "mcu_model_data.h"
#include "mqtt_client.h"
#include "nvs_flash.h"
#include "ota_esp32.h"
#include "serial_console.h"

#define EC_FW_VERSION "0.1.0"
#define REPORT_BUF_BYTES 2048u
#define DRAIN_PER_TICK 16

static const char *TAG = "edgecascade";

static ec_settings_t s_settings;
static ec_session_t s_session;
static ec_ring_t s_ring;
static uint8_t s_ring_pool[CONFIG_EC_RING_POOL_BYTES];
static ec_ring_slot_t s_ring_slots[CONFIG_EC_RING_SLOTS];
static QueueHandle_t s_config_queue;
static esp_mqtt_client_handle_t s_mqtt;
static uint32_t s_config_rejected;
static char s_device_id[EC_MAX_ID_LENGTH + 1];
static char s_topic_state[EC_TOPIC_MAX + 1];
#ifndef CONFIG_EC_TRANSPORT_SERIAL /* MQTT over Wi-Fi */
static ec_outbox_t s_outbox;
static bool s_mqtt_started;
static char s_topic_report[EC_TOPIC_MAX + 1];
static char s_topic_config[EC_TOPIC_MAX + 1];
static uint8_t s_will[128];
static size_t s_will_len;
#endif
static model_info_t s_model;
static ota_running_t s_run; /* which model runs: compiled in, or a model slot (OTA) */
static bool s_inferred;     /* an inference worked since boot (confirms a trial slot) */
/* Headroom for ESP-NN scratch buffers over a model's host-measured arena. */
#define ARENA_HEADROOM 8192u
static uint8_t s_arena[EC_TENSOR_ARENA_BYTES + ARENA_HEADROOM] __attribute__((aligned(16)));
/* Self-test of a downloaded model: these many replayed frames, at least this many right. */
#define SELF_TEST_FRAMES 10
#define SELF_TEST_MIN_CORRECT 8
#ifdef EC_INPUT_PIXELS /* an image model (firmware/generated/ec_settings.h) */
#define APP_INPUT_ELEMENTS EC_INPUT_PIXELS
#define APP_IMAGE 1
static uint8_t s_pixels[EC_INPUT_PIXELS]; /* gray, before quantization: the complexity input */
#define APP_PIXELS s_pixels
#else /* a model `edgecascade models import` made, e.g. HAR (models/har/firmware) */
#define APP_INPUT_ELEMENTS EC_INPUT_ELEMENTS
#define APP_IMAGE 0
#define APP_PIXELS NULL
#endif
static int8_t s_input[APP_INPUT_ELEMENTS];
static int8_t s_output[EC_NUM_CLASSES];
static uint8_t s_report[REPORT_BUF_BYTES];
#ifdef CONFIG_EC_TRANSPORT_SERIAL
static uint8_t s_frame[EC_FRAMING_ENCODED_MAX(REPORT_BUF_BYTES)];
#endif

/* ------------------------------------------------------------------ settings */

static void set_default(ec_setting_t key, const char *value)
{
    const char *why = "";
    if (ec_settings_set(&s_settings, key, value, strlen(value), &why) != EC_OK && value[0] != '\0') {
        ESP_LOGW(TAG, "Kconfig %s=\"%s\" ignored: %s", ec_setting_name(key), value, why);
    }
}

static void load_settings(void)
{
    memset(&s_settings, 0, sizeof s_settings);
    set_default(EC_SET_WIFI_SSID, CONFIG_EC_WIFI_SSID);
    set_default(EC_SET_WIFI_PASS, CONFIG_EC_WIFI_PASSWORD);
    set_default(EC_SET_BROKER_URL, CONFIG_EC_BROKER_URL);
    set_default(EC_SET_DEVICE_ID, CONFIG_EC_DEVICE_ID);
    set_default(EC_SET_CONF_THRESHOLD, CONFIG_EC_CONF_THRESHOLD);
    set_default(EC_SET_MARGIN_THRESHOLD, CONFIG_EC_MARGIN_THRESHOLD);
    set_default(EC_SET_COMPLEXITY_LIMIT, CONFIG_EC_COMPLEXITY_LIMIT);
    int loaded = ec_settings_load(&s_settings); /* NVS (provisioned) overrides Kconfig */
    ESP_LOGI(TAG, "settings: %d provisioned value(s) from NVS", loaded);

    const char *id = ec_settings_get(&s_settings, EC_SET_DEVICE_ID);
    if (id[0] != '\0') {
        strcpy(s_device_id, id);
    } else {
        uint8_t mac[6];
        ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
        snprintf(s_device_id, sizeof s_device_id, "esp32-%02x%02x%02x%02x%02x%02x", mac[0],
                 mac[1], mac[2], mac[3], mac[4], mac[5]);
    }
}

/* A provisioned/Kconfig threshold, or the calibrated one from the generated header. */
static float threshold(ec_setting_t key, float calibrated)
{
    const char *text = ec_settings_get(&s_settings, key);
    float value;
    if (text[0] == '\0' || ec_parse_decimal(text, strlen(text), &value) != EC_OK) {
        return calibrated;
    }
    return value;
}

static void init_session(void)
{
    /* provisioned > the running model version's own (its OTA manifest) > calibrated */
    ec_thresholds_t t = {
        .conf_threshold = threshold(EC_SET_CONF_THRESHOLD,
                                    s_run.has_thresholds ? s_run.conf_threshold : EC_DEVICE_CONF),
        .margin_threshold = threshold(EC_SET_MARGIN_THRESHOLD, s_run.has_thresholds
                                                                   ? s_run.margin_threshold
                                                                   : EC_DEVICE_MARGIN),
        .complexity_limit = threshold(EC_SET_COMPLEXITY_LIMIT, s_run.has_thresholds
                                                                   ? s_run.complexity_limit
                                                                   : EC_COMPLEXITY_LIMIT),
    };
    memset(&s_session, 0, sizeof s_session);
    s_session.epoch = ec_esp32_next_epoch();
    if (ec_policy_init(&s_session.policy, &t) != EC_OK) {
        ec_thresholds_t calibrated = {EC_DEVICE_CONF, EC_DEVICE_MARGIN, EC_COMPLEXITY_LIMIT};
        ESP_LOGW(TAG, "thresholds out of range: using the calibrated ones");
        ESP_ERROR_CHECK(ec_policy_init(&s_session.policy, &calibrated) == EC_OK ? ESP_OK
                                                                                 : ESP_FAIL);
    }
    ESP_LOGI(TAG, "device %s epoch %" PRIu32 " thresholds conf=%.4f margin=%.4f complexity=%.4f",
             s_device_id, s_session.epoch, (double)t.conf_threshold, (double)t.margin_threshold,
             (double)t.complexity_limit);
}

/* ------------------------------------------------------------------ messages */

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec > 1700000000) { /* SNTP has set the clock */
        return (uint64_t)tv.tv_sec * 1000u + (uint64_t)(tv.tv_usec / 1000);
    }
    return ec_platform_now_ms(); /* not yet: milliseconds since boot */
}

static size_t encode_state(bool online, uint8_t *buf, size_t cap)
{
    ec_state_t st;
    size_t len = 0;
    memset(&st, 0, sizeof st);
    st.device_id = s_device_id;
    st.online = online;
    st.ts_ms = online ? wall_ms() : 0; /* the will is written once, at connect time */
    if (online) {
        st.has_epoch = true;
        st.epoch = s_session.epoch;
        st.model_id = EC_MODEL_ID;
        st.has_model_version = true;
        st.model_version = s_run.version;
        st.fw_version = EC_FW_VERSION;
        st.has_dropped = true;
        st.dropped = ec_ring_dropped(&s_ring);
    }
    return ec_state_encode(&st, buf, cap, &len) == EC_OK ? len : 0;
}

/* Retained birth: on every connect, and again when a config starts a new epoch. */
static void publish_birth(void)
{
    uint8_t birth[160];
    size_t len = encode_state(true, birth, sizeof birth);
    if (len > 0 && ec_esp32_connected()) {
        esp_mqtt_client_enqueue(s_mqtt, s_topic_state, (const char *)birth, (int)len, 1, 1, true);
    }
}

#ifndef CONFIG_EC_TRANSPORT_SERIAL /* MQTT over Wi-Fi */
static void mqtt_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    esp_mqtt_event_handle_t ev = data;
    (void)arg;
    (void)base;
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        ec_esp32_set_connected(true);
        publish_birth();
        esp_mqtt_client_subscribe(s_mqtt, s_topic_config, 1);
        ota_esp32_on_connect(s_mqtt, CONFIG_EC_TOPIC_PREFIX, s_device_id);
        ESP_LOGI(TAG, "MQTT connected: birth on %s, config from %s", s_topic_state,
                 s_topic_config);
        break;
    case MQTT_EVENT_DISCONNECTED:
        ec_esp32_set_connected(false);
        ESP_LOGW(TAG, "MQTT disconnected: reports go to the ring (%u kept)",
                 ec_ring_count(&s_ring));
        break;
    case MQTT_EVENT_DATA: {
        ec_config_t cfg;
        int bad_key = -1;
        int rc;
        if (ota_esp32_on_data(ev)) {
            break; /* a model manifest or chunk (ota_esp32.c) */
        }
        if (ev->topic_len != (int)strlen(s_topic_config) ||
            memcmp(ev->topic, s_topic_config, (size_t)ev->topic_len) != 0) {
            break;
        }
        if (ev->current_data_offset != 0 || ev->data_len != ev->total_data_len) {
            s_config_rejected++;
            ESP_LOGW(TAG, "config rejected: %d bytes do not fit one MQTT buffer",
                     ev->total_data_len);
            break;
        }
        rc = ec_config_decode((const uint8_t *)ev->data, (size_t)ev->data_len, &cfg, &bad_key);
        if (rc != EC_OK) {
            s_config_rejected++;
            ESP_LOGW(TAG, "config rejected: %s (key %d); %" PRIu32 " rejected so far",
                     ec_err_name(rc), bad_key, s_config_rejected);
            break;
        }
        xQueueOverwrite(s_config_queue, &cfg); /* the newest config wins */
        break;
    }
    default:
        break;
    }
}

/* The provisioned CA (base64 DER) as a NUL-terminated PEM (64-character lines) for
 * esp-mqtt's TLS; NULL if none. */
static const char *ca_pem(void)
{
    static char s_ca_pem[EC_CA_CERT_MAX + EC_CA_CERT_MAX / 64u + 64u];
    static const char head[] = "-----BEGIN CERTIFICATE-----\n";
    static const char tail[] = "-----END CERTIFICATE-----\n";
    const char *b64 = ec_settings_get(&s_settings, EC_SET_CA_CERT);
    size_t n = strlen(b64);
    size_t at = 0;
    size_t out = sizeof head - 1u;
    if (n == 0u) {
        return NULL;
    }
    memcpy(s_ca_pem, head, out);
    while (at < n) {
        size_t part = n - at < 64u ? n - at : 64u;
        memcpy(s_ca_pem + out, b64 + at, part);
        out += part;
        s_ca_pem[out++] = '\n';
        at += part;
    }
    memcpy(s_ca_pem + out, tail, sizeof tail); /* with its NUL */
    return s_ca_pem;
}

static void mqtt_init(void)
{
    esp_mqtt_client_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    const char *prefix = CONFIG_EC_TOPIC_PREFIX;
    ESP_ERROR_CHECK(ec_topic_build(s_topic_report, sizeof s_topic_report, prefix, s_device_id,
                                   EC_TOPIC_REPORT) == EC_OK ? ESP_OK : ESP_ERR_INVALID_ARG);
    ESP_ERROR_CHECK(ec_topic_build(s_topic_state, sizeof s_topic_state, prefix, s_device_id,
                                   EC_TOPIC_STATE) == EC_OK ? ESP_OK : ESP_ERR_INVALID_ARG);
    ESP_ERROR_CHECK(ec_topic_build(s_topic_config, sizeof s_topic_config, prefix, s_device_id,
                                   EC_TOPIC_CONFIG) == EC_OK ? ESP_OK : ESP_ERR_INVALID_ARG);
    s_will_len = encode_state(false, s_will, sizeof s_will);
    cfg.broker.address.uri = ec_settings_get(&s_settings, EC_SET_BROKER_URL);
    cfg.credentials.client_id = s_device_id;
    /* A secured site (edgecascade site): username + password over TLS, the broker verified
     * against the provisioned site CA. Secrets are never logged. */
    const char *user = ec_settings_get(&s_settings, EC_SET_MQTT_USER);
    if (user[0] != '\0') {
        cfg.credentials.username = user;
        cfg.credentials.authentication.password = ec_settings_get(&s_settings, EC_SET_MQTT_PASS);
    }
    const char *ca = ca_pem();
    if (ca != NULL) {
        cfg.broker.verification.certificate = ca; /* NUL-terminated PEM: length 0 */
    }
    ESP_LOGI(TAG, "broker %s, login %s, CA %s", cfg.broker.address.uri,
             user[0] != '\0' ? user : "(none)", ca != NULL ? "provisioned" : "(none)");
    cfg.session.last_will.topic = s_topic_state;
    cfg.session.last_will.msg = (const char *)s_will; /* binary: msg_len is required */
    cfg.session.last_will.msg_len = (int)s_will_len;
    cfg.session.last_will.qos = 1;
    cfg.session.last_will.retain = 1;
    cfg.session.keepalive = 30;
    cfg.buffer.size = REPORT_BUF_BYTES;
    s_mqtt = esp_mqtt_client_init(&cfg);
    ESP_ERROR_CHECK(s_mqtt != NULL ? ESP_OK : ESP_FAIL);
    ec_esp32_bind_mqtt(s_mqtt);
    ESP_ERROR_CHECK(esp_mqtt_client_register_event(s_mqtt, ESP_EVENT_ANY_ID, mqtt_event, NULL));
}

/* ---------------------------------------------------------------------- wifi */

static void wifi_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        esp_wifi_connect();
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        ESP_LOGW(TAG, "Wi-Fi disconnected, retrying");
        esp_wifi_connect();
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        ip_event_got_ip_t *ev = data;
        ESP_LOGI(TAG, "got IP " IPSTR, IP2STR(&ev->ip_info.ip));
        if (!s_mqtt_started) {
            s_mqtt_started = true;
            ESP_ERROR_CHECK(esp_mqtt_client_start(s_mqtt)); /* reconnects on its own */
        }
    }
}

static void wifi_init(void)
{
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    wifi_config_t wc;
    const char *ssid = ec_settings_get(&s_settings, EC_SET_WIFI_SSID);
    const char *pass = ec_settings_get(&s_settings, EC_SET_WIFI_PASS);
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    if (ssid[0] == '\0') {
        ESP_LOGW(TAG, "no Wi-Fi configured: reports stay in the ring; provision over serial");
        return;
    }
    esp_netif_create_default_wifi_sta();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, wifi_event, NULL));
    ESP_ERROR_CHECK(esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, wifi_event, NULL));
    memset(&wc, 0, sizeof wc);
    strncpy((char *)wc.sta.ssid, ssid, sizeof wc.sta.ssid);
    strncpy((char *)wc.sta.password, pass, sizeof wc.sta.password);
    wc.sta.threshold.authmode = pass[0] == '\0' ? WIFI_AUTH_OPEN : WIFI_AUTH_WPA2_PSK;
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &wc));
    ESP_ERROR_CHECK(esp_wifi_start());
    esp_sntp_setoperatingmode(ESP_SNTP_OPMODE_POLL);
    esp_sntp_setservername(0, "pool.ntp.org");
    esp_sntp_init();
}

#endif /* !CONFIG_EC_TRANSPORT_SERIAL */

/* ---------------------------------------------------------------------- loop */

static void apply_pending_config(void)
{
    ec_config_t cfg;
    static const char *const outcome[] = {"stale (ignored)", "applied", "applied, new epoch"};
    if (xQueueReceive(s_config_queue, &cfg, 0) != pdTRUE) {
        return;
    }
    int rc = ec_session_apply_config(&s_session, &cfg);
    if (rc < 0) {
        s_config_rejected++;
        ESP_LOGW(TAG, "config revision %" PRIu32 " rejected: %s", cfg.revision, ec_err_name(rc));
        return;
    }
    ESP_LOGI(TAG, "config revision %" PRIu32 " %s: conf=%.4f margin=%.4f complexity=%.4f",
             cfg.revision, outcome[rc], (double)cfg.conf_threshold,
             (double)cfg.margin_threshold, (double)cfg.complexity_limit);
    if (rc == EC_CONFIG_NEW_EPOCH) {
        publish_birth(); /* announce the new session (epoch, seq from 0) */
    }
}

/* deadline, priority and privacy from Kconfig, stamped on every report */
#ifdef CONFIG_EC_PRIVATE
#define EC_APP_PRIVATE true
#else
#define EC_APP_PRIVATE false
#endif
static const ec_report_opts_t s_report_opts = {
    (uint32_t)CONFIG_EC_DEADLINE_MS, CONFIG_EC_PRIORITY, EC_APP_PRIVATE};

/* The attach decision, with the complexity signal the model's workload defines: the
 * uint8 image against the mean image, or the int8 input against the mean input. */
static int decide(ec_decision_t *d)
{
#if APP_IMAGE
    return ec_policy_decide(&s_session.policy, s_output, s_model.output_len,
                            s_model.output_scale, s_model.output_zero_point, CONFIG_EC_TOPK,
                            s_pixels, ec_mean_image, sizeof s_pixels, d);
#else
    int rc = ec_policy_decide(&s_session.policy, s_output, s_model.output_len,
                              s_model.output_scale, s_model.output_zero_point, CONFIG_EC_TOPK,
                              NULL, NULL, 0, d); /* complexity below, checked last as there */
#if EC_COMPLEXITY_ON
    if (rc == EC_OK) {
        d->complexity = ec_complexity_q(s_input, ec_mean_input, sizeof s_input);
        if (d->reason == EC_REASON_CONFIDENT &&
            d->complexity > s_session.policy.complexity_limit) {
            d->reason = EC_REASON_COMPLEX_INPUT;
            d->attach = true;
        }
    }
#endif
    return rc;
#endif
}

static void report_one(void)
{
    ec_decision_t d;
    ec_report_t r;
    ec_frame_t frame;
    size_t len = 0;
    int label = -1;
    int rc;
    if (frame_provider_next(s_input, APP_PIXELS, sizeof s_input, &label) != 0) {
        ESP_LOGE(TAG, "%s frame source failed", frame_provider_name());
        return;
    }
    if (model_runner_invoke(s_input, s_output) != 0) {
        ESP_LOGE(TAG, "inference failed");
        return;
    }
    s_inferred = true;
    rc = decide(&d);
    if (rc != EC_OK) {
        ESP_LOGE(TAG, "policy failed: %s", ec_err_name(rc));
        return;
    }
    /* the retained config's audit share: a confident report may carry its frame too */
    ec_policy_audit(&s_session.policy, s_device_id, s_session.epoch, s_session.seq, &d);
    memset(&frame, 0, sizeof frame);
    frame.data = (const uint8_t *)s_input;
    frame.len = sizeof s_input;
#if APP_IMAGE
    frame.shape[0] = EC_INPUT_HEIGHT;
    frame.shape[1] = EC_INPUT_WIDTH;
    frame.shape[2] = EC_INPUT_CHANNELS;
    frame.ndims = 3;
#else
    frame.shape[0] = EC_INPUT_DIM0;
#if EC_INPUT_RANK > 1
    frame.shape[1] = EC_INPUT_DIM1;
#endif
#if EC_INPUT_RANK > 2
    frame.shape[2] = EC_INPUT_DIM2;
#endif
    frame.ndims = EC_INPUT_RANK;
#endif
    frame.dtype = EC_DTYPE_INT8;
    frame.scale = s_model.input_scale;
    frame.zero_point = (int16_t)s_model.input_zero_point;
    memset(&r, 0, sizeof r);
    r.device_id = s_device_id;
    r.epoch = s_session.epoch;
    r.seq = s_session.seq;
    r.ts_ms = wall_ms();
    r.model_id = EC_MODEL_ID;
    r.model_version = s_run.version;
    r.k = d.k;
    memcpy(r.classes, d.classes, sizeof r.classes);
    memcpy(r.confidences, d.confidences, sizeof r.confidences);
    r.frame = d.attach ? &frame : NULL;
    r.has_complexity = true;
    r.complexity = d.complexity;
    rc = ec_report_apply_opts(&r, &s_report_opts);
    if (rc == EC_OK) {
        rc = ec_report_encode(&r, s_report, sizeof s_report, &len);
    }
    if (rc != EC_OK) {
        ESP_LOGE(TAG, "encode failed: %s", ec_err_name(rc));
        return;
    }
    s_session.seq++;
#ifdef CONFIG_EC_TRANSPORT_SERIAL
    {
        size_t flen = 0;
        rc = ec_framing_encode(s_report, len, s_frame, sizeof s_frame, &flen);
        if (rc == EC_OK) {
            serial_console_write(s_frame, flen); /* the serial bridge publishes it */
        }
    }
#else
    /* sent now, or kept in the ring behind older reports (drops counted there) */
    rc = ec_outbox_send(&s_outbox, s_report, len, d.attach, NULL);
#endif
    ESP_LOGI(TAG, "seq=%" PRIu32 " truth=%d top1=%u (%.3f) %s %u B%s ring=%u dropped=%" PRIu32,
             r.seq, label, d.classes[0], d.confidences[0] / 65535.0, ec_reason_name(d.reason),
             (unsigned)len, rc == EC_OK ? "" : " (dropped)", ec_ring_count(&s_ring),
             ec_ring_dropped(&s_ring));
}

/* The preprocessing quantizes with ec_settings.h's input scale and zero point: a model
 * with another input quantization would get wrong inputs. */
static bool input_quantization_matches(const model_info_t *info)
{
    return info->input_scale == EC_INPUT_SCALE && info->input_zero_point == EC_INPUT_ZERO_POINT;
}

#ifndef CONFIG_EC_TRANSPORT_SERIAL
/* The downloaded model in the real arena on stored (replayed) frames, then the running
 * model back: 0, EC_OTA_LOAD_FAILED or EC_OTA_SELF_TEST_FAILED (ota_esp32.h). */
static int self_test(void *ctx, const uint8_t *model)
{
    model_info_t info;
    const char *why = "";
    int right = 0;
    int rc = 0;
    int i;
    (void)ctx;
    if (model_runner_init(model, s_arena, sizeof s_arena, APP_INPUT_ELEMENTS, &info, &why) !=
            0 ||
        info.output_len != EC_NUM_CLASSES || !input_quantization_matches(&info)) {
        ESP_LOGW(TAG, "self-test: new model unusable: %s", why);
        rc = (int)EC_OTA_LOAD_FAILED;
    } else {
#if APP_IMAGE /* the stored frames (replay_frames.h), whatever the frame source */
        for (i = 0; i < SELF_TEST_FRAMES; i++) {
            int label = -1;
            size_t k;
            size_t best = 0;
            if (frame_replay_get((unsigned)i, s_input, s_pixels, sizeof s_input, &label) != 0) {
                break;
            }
            if (model_runner_invoke(s_input, s_output) != 0) {
                break;
            }
            for (k = 1; k < EC_NUM_CLASSES; k++) {
                best = s_output[k] > s_output[best] ? k : best;
            }
            right += (int)best == label;
        }
        ESP_LOGI(TAG, "self-test: %d of %d stored frames right", right, SELF_TEST_FRAMES);
        rc = right >= SELF_TEST_MIN_CORRECT ? 0 : (int)EC_OTA_SELF_TEST_FAILED;
#else /* no stored windows in this build: the model loaded and fits the input */
        (void)i;
        (void)right;
        ESP_LOGI(TAG, "self-test: model loads with this input (no stored frames to run)");
        rc = 0;
#endif
    }
    if (model_runner_init(s_run.model, s_arena, sizeof s_arena, APP_INPUT_ELEMENTS, &s_model,
                          &why) != 0) {
        ESP_LOGE(TAG, "running model did not come back after the self-test: %s", why);
        esp_restart();
    }
    return rc;
}
#endif

void app_main(void)
{
    esp_err_t err = nvs_flash_init();
    const char *why = "";
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_LOGI(TAG, "edgecascade fw %s, model %s v%u", EC_FW_VERSION, EC_MODEL_ID,
             (unsigned)EC_MODEL_VERSION);

    load_settings();
    /* the model to run: compiled in, or an OTA slot (a trial is counted, an unconfirmed
     * one rolled back, before anything else runs) */
    ota_esp32_set_clock(wall_ms);
    ota_esp32_boot(ec_mcu_model, EC_MODEL_ID, EC_MODEL_VERSION,
                   (uint32_t)(sizeof s_arena - ARENA_HEADROOM), &s_run);
    init_session();
    ESP_ERROR_CHECK(ec_ring_init(&s_ring, s_ring_pool, sizeof s_ring_pool, s_ring_slots,
                                 CONFIG_EC_RING_SLOTS) == EC_OK ? ESP_OK : ESP_FAIL);
    s_config_queue = xQueueCreate(1, sizeof(ec_config_t));
    if (model_runner_init(s_run.model, s_arena, sizeof s_arena, APP_INPUT_ELEMENTS, &s_model,
                          &why) != 0 ||
        s_model.output_len != EC_NUM_CLASSES || !input_quantization_matches(&s_model) ||
        frame_provider_init() != 0) {
        /* A model that does not fit the frame source, or a sensor that does not answer, is
         * a clear stop, not a crash loop. */
        if (why[0] == '\0') {
            why = s_model.output_len != EC_NUM_CLASSES ? "wrong number of classes"
                  : !input_quantization_matches(&s_model)
                      ? "input quantization differs from ec_settings.h"
                      : "frame source did not start";
        }
        ESP_LOGE(TAG, "model or %s frame source unusable: %s; halting", frame_provider_name(),
                 why);
        serial_console_start(&s_settings, EC_FW_VERSION); /* still provisionable */
        vTaskSuspend(NULL);
    }
    ESP_LOGI(TAG, "TFLM ready: arena %u of %u bytes, in scale=%g zp=%d, out scale=%g zp=%d",
             (unsigned)s_model.arena_used, (unsigned)sizeof s_arena,
             (double)s_model.input_scale, (int)s_model.input_zero_point,
             (double)s_model.output_scale, (int)s_model.output_zero_point);

    serial_console_start(&s_settings, EC_FW_VERSION);
#ifdef CONFIG_EC_TRANSPORT_SERIAL
    ESP_LOGW(TAG, "serial transport: reports are COBS frames on the console UART");
    esp_log_level_set("*", ESP_LOG_WARN); /* keep log text out of the frames */
#else
    mqtt_init();
    ESP_ERROR_CHECK(ec_outbox_init(&s_outbox, &s_ring, s_topic_report) == EC_OK ? ESP_OK
                                                                                : ESP_FAIL);
    wifi_init();
#endif

    TickType_t wake = xTaskGetTickCount();
    for (;;) {
        apply_pending_config();
        if (!serial_console_paused()) {
            report_one();
        }
#ifndef CONFIG_EC_TRANSPORT_SERIAL
        if (ec_esp32_connected()) {
            (void)ec_outbox_drain(&s_outbox, DRAIN_PER_TICK);
        }
        if (s_run.trial && s_inferred) { /* the new model answered: keep it */
            s_run.trial = false;
            ota_esp32_confirm();
        }
        ota_esp32_poll(self_test, NULL); /* a finished download: verify, test, restart */
#endif
        vTaskDelayUntil(&wake, pdMS_TO_TICKS(CONFIG_EC_REPORT_PERIOD_MS));
    }
}
