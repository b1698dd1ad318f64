/* Unit tests of the core modules (behaviour that could break). */
#include <string.h>

#include "ec_config.h"
#include "ec_framing.h"
#include "ec_msgpack.h"
#include "ec_outbox.h"
#include "ec_platform_host.h"
#include "ec_policy.h"
#include "ec_provision.h"
#include "ec_report.h"
#include "ec_ring.h"
#include "ec_test.h"

void test_policy(void);
void test_ring(void);
void test_framing(void);
void test_config_rejects(void);
void test_msgpack_reader(void);
void test_provision(void);
void test_report_rejects(void);

void test_policy(void)
{
    ec_policy_t p;
    ec_thresholds_t t = {0.9f, 0.25f, 0.35f};
    ec_decision_t d;
    int8_t out[10] = {-128, -128, -128, -128, -128, -128, -128, 127, -128, -128};
    uint8_t px[4] = {0, 255, 10, 20};
    uint8_t mean[4] = {0, 0, 10, 30};
    uint8_t white[4] = {255, 255, 255, 255};
    uint8_t idx[3];
    int8_t ties[4] = {5, 9, 9, 5};

    CHECK_EQ(ec_confidence_to_wire(0.0f), 0);
    CHECK_EQ(ec_confidence_to_wire(1.0f), 65535);
    CHECK_EQ(ec_confidence_to_wire(2.0f), 65535);
    CHECK_EQ(ec_confidence_to_wire(-1.0f), 0);
    CHECK_EQ(ec_confidence_to_wire(0.5f), 32768);
    CHECK_EQ(ec_confidence_from_q(127, 1.0f / 256.0f, -128), 65279);

    CHECK_EQ(ec_topk(ties, 4, 3, idx), 3);
    CHECK_EQ(idx[0], 1);
    CHECK_EQ(idx[1], 2);
    CHECK_EQ(idx[2], 0);

    /* (255 + 10) / (4 * 255) */
    CHECK(ec_complexity(px, mean, 4) == 265.0f / 1020.0f);

    CHECK_EQ(ec_policy_init(&p, &t), EC_OK);
    CHECK_EQ(p.conf_u16, ec_confidence_to_wire(0.9f));
    CHECK_EQ(ec_policy_decide(&p, out, 10, 1.0f / 256.0f, -128, 3, px, px, 4, &d), EC_OK);
    CHECK_EQ(d.k, 3);
    CHECK_EQ(d.classes[0], 7);
    CHECK_EQ(d.classes[1], 0);
    CHECK(!d.attach);
    CHECK_EQ(d.reason, EC_REASON_CONFIDENT);
    CHECK(strcmp(ec_reason_name(d.reason), "confident") == 0);

    out[3] = 120; /* close second: small margin */
    CHECK_EQ(ec_policy_decide(&p, out, 10, 1.0f / 256.0f, -128, 3, px, px, 4, &d), EC_OK);
    CHECK_EQ(d.reason, EC_REASON_SMALL_MARGIN);
    CHECK(d.attach);

    out[3] = -128;
    out[7] = 0; /* top-1 0.5: low confidence wins over everything */
    CHECK_EQ(ec_policy_decide(&p, out, 10, 1.0f / 256.0f, -128, 1, px, px, 4, &d), EC_OK);
    CHECK_EQ(d.reason, EC_REASON_LOW_CONFIDENCE);
    CHECK_EQ(d.k, 1);
    CHECK(strcmp(ec_reason_name(d.reason), "low_confidence") == 0);

    out[7] = 127;
    CHECK_EQ(ec_policy_decide(&p, out, 10, 1.0f / 256.0f, -128, 2, white, mean, 4, &d), EC_OK);
    CHECK_EQ(d.reason, EC_REASON_COMPLEX_INPUT);
    CHECK(strcmp(ec_reason_name(d.reason), "complex_input") == 0);

    t.conf_threshold = 1.5f;
    CHECK_EQ(ec_policy_init(&p, &t), EC_ERR_RANGE);
    t.conf_threshold = 0.5f;
    t.complexity_limit = -1.0f;
    CHECK_EQ(ec_policy_init(&p, &t), EC_ERR_RANGE);
    CHECK_EQ(ec_policy_decide(&p, out, 10, 0.0f, -128, 2, px, mean, 4, &d), EC_ERR_ARG);
}

static int push_id(ec_ring_t *r, uint8_t id, size_t len, bool frame)
{
    uint8_t data[64];
    memset(data, id, sizeof data);
    return ec_ring_push(r, data, len, frame);
}

static uint8_t peek_id(const ec_ring_t *r)
{
    const uint8_t *d;
    size_t len;
    return ec_ring_peek(r, &d, &len, NULL) == EC_OK ? d[0] : 0;
}

void test_ring(void)
{
    uint8_t pool[40];
    ec_ring_slot_t slots[4];
    ec_ring_t r;
    CHECK_EQ(ec_ring_init(&r, pool, sizeof pool, slots, 4), EC_OK);
    CHECK_EQ(ec_ring_pop(&r), EC_ERR_EMPTY);
    CHECK_EQ(push_id(&r, 1, 10, true), EC_OK);
    CHECK_EQ(push_id(&r, 2, 10, false), EC_OK);
    CHECK_EQ(push_id(&r, 3, 10, true), EC_OK);
    CHECK_EQ(push_id(&r, 4, 10, false), EC_OK);
    /* full: the oldest frame-less report (2) goes first */
    CHECK_EQ(push_id(&r, 5, 10, true), EC_OK);
    CHECK_EQ(r.stats.dropped_plain, 1);
    CHECK_EQ(push_id(&r, 6, 10, true), EC_OK); /* drops 4 */
    CHECK_EQ(r.stats.dropped_plain, 2);
    /* only frames left: a frame-less report is dropped itself, nothing else */
    CHECK_EQ(push_id(&r, 7, 10, false), EC_ERR_DROPPED);
    CHECK_EQ(r.stats.dropped_plain, 3);
    CHECK_EQ(ec_ring_count(&r), 4);
    /* a frame evicts the oldest frame (1) */
    CHECK_EQ(push_id(&r, 8, 10, true), EC_OK);
    CHECK_EQ(r.stats.dropped_frame, 1);
    CHECK_EQ(push_id(&r, 9, 41, true), EC_ERR_TOO_BIG);
    CHECK_EQ(r.stats.oversize, 1);
    CHECK_EQ(ec_ring_dropped(&r), 5);
    /* FIFO drain: 3 5 6 8 */
    CHECK_EQ(peek_id(&r), 3);
    CHECK_EQ(ec_ring_pop(&r), EC_OK);
    CHECK_EQ(peek_id(&r), 5);
    CHECK_EQ(ec_ring_pop(&r), EC_OK);
    CHECK_EQ(peek_id(&r), 6);
    CHECK_EQ(ec_ring_pop(&r), EC_OK);
    CHECK_EQ(peek_id(&r), 8);
    CHECK_EQ(ec_ring_pop(&r), EC_OK);
    CHECK_EQ(ec_ring_count(&r), 0);
    /* bytes, not slots, can be the limit: one big frame evicts two small reports */
    CHECK_EQ(push_id(&r, 1, 15, false), EC_OK);
    CHECK_EQ(push_id(&r, 2, 15, false), EC_OK);
    CHECK_EQ(push_id(&r, 3, 30, true), EC_OK);
    CHECK_EQ(ec_ring_count(&r), 1);
    CHECK_EQ(peek_id(&r), 3);
}

void test_framing(void)
{
    uint8_t payload[300];
    uint8_t enc[EC_FRAMING_ENCODED_MAX(300)];
    uint8_t dbuf[400];
    ec_deframer_t d;
    size_t n = 0;
    size_t i;
    int got = 0;
    const uint8_t *out = NULL;
    size_t out_len = 0;
    const uint8_t check[] = "123456789";
    CHECK_EQ(ec_crc16(check, 9), 0x29b1);
    for (i = 0; i < sizeof payload; i++) {
        payload[i] = (uint8_t)(i % 7 == 0 ? 0 : i);
    }
    CHECK_EQ(ec_framing_encode(payload, sizeof payload, enc, sizeof enc, &n), EC_OK);
    CHECK(n <= sizeof enc);
    CHECK_EQ(enc[n - 1], 0);
    for (i = 0; i + 1 < n; i++) {
        CHECK(enc[i] != 0);
    }
    CHECK_EQ(ec_framing_encode(payload, sizeof payload, enc, n - 1, &n), EC_ERR_NOSPACE);
    CHECK_EQ(ec_framing_encode(payload, sizeof payload, enc, sizeof enc, &n), EC_OK);
    CHECK_EQ(ec_deframer_init(&d, dbuf, sizeof dbuf), EC_OK);
    /* garbage, then a corrupted copy, then the real frame */
    CHECK(ec_deframer_feed(&d, 0x41, &out, &out_len) == 0);
    CHECK(ec_deframer_feed(&d, 0x00, &out, &out_len) < 0);
    for (i = 0; i < n; i++) {
        uint8_t b = (i == 5) ? (uint8_t)(enc[i] ^ 0x01) : enc[i];
        if (b == 0 && i + 1 < n) {
            b = 1;
        }
        (void)ec_deframer_feed(&d, b, &out, &out_len);
    }
    for (i = 0; i < n; i++) {
        if (ec_deframer_feed(&d, enc[i], &out, &out_len) == 1) {
            got++;
        }
    }
    CHECK_EQ(got, 1);
    CHECK_EQ(out_len, sizeof payload);
    CHECK(out_len == sizeof payload && memcmp(out, payload, out_len) == 0);
    CHECK_EQ(d.stats.frames_ok, 1);
    CHECK_EQ(d.stats.bad_frames, 2);
    /* an over-long frame is one bad frame, and the next one decodes */
    CHECK_EQ(ec_deframer_init(&d, dbuf, 8), EC_OK);
    for (i = 0; i < 20; i++) {
        (void)ec_deframer_feed(&d, 0x55, &out, &out_len);
    }
    CHECK_EQ(ec_deframer_feed(&d, 0, &out, &out_len), EC_ERR_TOO_BIG);
    CHECK_EQ(ec_framing_encode(payload + 1, 3, enc, sizeof enc, &n), EC_OK);
    got = 0;
    for (i = 0; i < n; i++) {
        got += ec_deframer_feed(&d, enc[i], &out, &out_len) == 1;
    }
    CHECK_EQ(got, 1);
    CHECK_EQ(d.stats.too_long, 1);
}

void test_config_rejects(void)
{
    /* {0:1, 1:3, 2:1.5f, 3:0.25f, 4:0.35f} : conf out of range */
    const uint8_t bad_conf[] = {0x85, 0x00, 0x01, 0x01, 0x03, 0x02, 0xca, 0x3f, 0xc0, 0x00, 0x00,
                                0x03, 0xca, 0x3e, 0x80, 0x00, 0x00, 0x04, 0xca, 0x3e, 0xb3,
                                0x33, 0x33};
    /* same with conf 1 (int), an unknown key "x": [nil] and a float64 limit */
    const uint8_t ok_extra[] = {0x86, 0x00, 0x01, 0x01, 0x03, 0x02, 0x01, 0x03, 0xca, 0x3e,
                                0x80, 0x00, 0x00, 0x04, 0xcb, 0x3f, 0xd6, 0x66, 0x66, 0x66,
                                0x66, 0x66, 0x66, 0xa1, 0x78, 0x91, 0xc0};
    /* schema 0 */
    const uint8_t bad_schema[] = {0x81, 0x00, 0x00};
    /* missing margin */
    const uint8_t missing[] = {0x84, 0x00, 0x01, 0x01, 0x03, 0x02, 0x00, 0x04, 0x00};
    ec_config_t c;
    int bad = 0;
    CHECK_EQ(ec_config_decode(bad_conf, sizeof bad_conf, &c, &bad), EC_ERR_RANGE);
    CHECK_EQ(bad, 2);
    CHECK_EQ(ec_config_decode(ok_extra, sizeof ok_extra, &c, &bad), EC_OK);
    CHECK(c.conf_threshold == 1.0f);
    CHECK(c.complexity_limit == (float)0.35);
    CHECK(!c.has_epoch);
    CHECK_EQ(ec_config_decode(bad_schema, sizeof bad_schema, &c, &bad), EC_ERR_SCHEMA);
    CHECK_EQ(ec_config_decode(missing, sizeof missing, &c, &bad), EC_ERR_MISSING);
    CHECK_EQ(bad, 3);
    CHECK(ec_config_decode(ok_extra, sizeof ok_extra - 1, &c, &bad) < 0);
}

void test_session_config(void);
void test_session_config(void)
{
    ec_session_t s;
    ec_config_t c;
    memset(&s, 0, sizeof s);
    s.epoch = 7;
    s.seq = 100;
    s.config_revision = 2;
    memset(&c, 0, sizeof c);
    c.revision = 1;
    c.conf_threshold = 0.5f;
    CHECK_EQ(ec_session_apply_config(&s, &c), EC_CONFIG_STALE);
    c.revision = 2;
    c.has_epoch = true;
    c.epoch = 9;
    CHECK_EQ(ec_session_apply_config(&s, &c), EC_CONFIG_APPLIED); /* same revision */
    CHECK_EQ(s.policy.conf_u16, ec_confidence_to_wire(0.5f));
    CHECK_EQ(s.epoch, 7);
    c.revision = 3;
    CHECK_EQ(ec_session_apply_config(&s, &c), EC_CONFIG_NEW_EPOCH);
    CHECK_EQ(s.epoch, 9);
    CHECK_EQ(s.seq, 0);
    c.revision = 4;
    c.conf_threshold = 2.0f; /* never from the decoder, but refused all the same */
    CHECK_EQ(ec_session_apply_config(&s, &c), EC_ERR_RANGE);
    CHECK_EQ(s.config_revision, 3);
}

void test_msgpack_reader(void)
{
    uint8_t buf[64];
    ec_mp_writer_t w;
    ec_mp_reader_t r;
    ec_mp_value_t v;
    const uint8_t bad_utf8[] = {0xa2, 0xc3, 0x28};
    const uint8_t deep[20] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                              0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
    const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
    ec_mp_writer_init(&w, buf, sizeof buf);
    ec_mp_write_int(&w, -1);
    ec_mp_write_int(&w, -33);
    ec_mp_write_int(&w, -40000);
    ec_mp_write_uint(&w, 200);
    ec_mp_write_uint(&w, 70000);
    CHECK_EQ(w.err, EC_OK);
    CHECK_EQ(w.len, 1 + 2 + 5 + 2 + 5);
    ec_mp_reader_init(&r, buf, w.len);
    CHECK(ec_mp_read(&r, &v) == EC_OK && v.type == EC_MP_INT && v.i == -1);
    CHECK(ec_mp_read(&r, &v) == EC_OK && v.type == EC_MP_INT && v.i == -33);
    CHECK(ec_mp_read(&r, &v) == EC_OK && v.type == EC_MP_INT && v.i == -40000);
    CHECK(ec_mp_read(&r, &v) == EC_OK && v.type == EC_MP_UINT && v.u == 200);
    CHECK(ec_mp_read(&r, &v) == EC_OK && v.type == EC_MP_UINT && v.u == 70000);
    CHECK_EQ(ec_mp_read(&r, &v), EC_ERR_TRUNCATED);
    ec_mp_reader_init(&r, bad_utf8, sizeof bad_utf8);
    CHECK_EQ(ec_mp_read(&r, &v), EC_ERR_MALFORMED);
    ec_mp_reader_init(&r, deep, sizeof deep);
    CHECK_EQ(ec_mp_skip(&r), EC_ERR_MALFORMED);
    ec_mp_reader_init(&r, huge_array, sizeof huge_array);
    CHECK_EQ(ec_mp_skip(&r), EC_ERR_TRUNCATED);
}

static const char *run_line(ec_provision_t *p, const char *line)
{
    static char out[EC_LINE_MAX + 2];
    size_t i;
    int n = 0;
    out[0] = '\0';
    for (i = 0; line[i] != '\0'; i++) {
        n = ec_provision_feed(p, (uint8_t)line[i], host_now_ms, out, sizeof out);
    }
    return n > 0 ? out : "";
}

void test_provision(void)
{
    ec_settings_t s;
    ec_settings_t loaded;
    ec_provision_t p;
    ec_thresholds_t t;
    char longline[200];
    memset(&s, 0, sizeof s);
    host_platform_reset();
    CHECK_EQ(ec_settings_set(&s, EC_SET_CONF_THRESHOLD, "0.9", 3, NULL), EC_OK);
    CHECK_EQ(ec_settings_set(&s, EC_SET_MARGIN_THRESHOLD, "0.25", 4, NULL), EC_OK);
    CHECK_EQ(ec_settings_set(&s, EC_SET_COMPLEXITY_LIMIT, "0.35", 4, NULL), EC_OK);
    CHECK_EQ(ec_provision_init(&p, &s, "0.1.0"), EC_OK);
    CHECK(strcmp(run_line(&p, "EC HELLO\n"), "EC OK 0.1.0 -\n") == 0);
    CHECK(ec_provision_paused(&p, 1000));
    CHECK(strcmp(run_line(&p, "EC SET device_id cam-01\n"), "EC OK\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET device_id bad id\n"), "EC ERR device_id bad_value\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET wifi_ssid My Home\r\n"), "EC OK\n") == 0);
    CHECK(strcmp(run_line(&p, "EC GET wifi_ssid\n"), "EC OK My Home\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET wifi_pass secret123\n"), "EC OK\n") == 0);
    CHECK(strcmp(run_line(&p, "EC GET wifi_pass\n"), "EC OK ***\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET conf_threshold 1.5\n"),
                 "EC ERR conf_threshold out_of_range\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET conf_threshold 0.x\n"),
                 "EC ERR conf_threshold bad_value\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET conf_threshold 0.8\n"), "EC OK\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET broker_url http://x\n"), "EC ERR broker_url bad_value\n") ==
          0);
    CHECK(strcmp(run_line(&p, "EC SET broker_url mqtt://10.0.0.2:1883\n"), "EC OK\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET colour red\n"), "EC ERR colour unknown_key\n") == 0);
    CHECK(strcmp(run_line(&p, "EC SET Col$ red\n"), "EC ERR - unknown_key\n") == 0);
    CHECK(strcmp(run_line(&p, "EC GET nope\n"), "EC ERR nope unknown_key\n") == 0);
    CHECK(strcmp(run_line(&p, "HELLO\n"), "EC ERR - unknown_command\n") == 0);
    CHECK(strcmp(run_line(&p, "\n"), "") == 0);
    memset(longline, 'A', sizeof longline);
    longline[sizeof longline - 2] = '\n';
    longline[sizeof longline - 1] = '\0';
    CHECK(strcmp(run_line(&p, longline), "EC ERR - line_too_long\n") == 0);
    CHECK(strcmp(run_line(&p, "EC GET device_id\n"), "EC OK cam-01\n") == 0);
    host_storage_fails = true;
    CHECK(strcmp(run_line(&p, "EC COMMIT\n"), "EC ERR - storage\n") == 0);
    host_storage_fails = false;
    CHECK(strcmp(run_line(&p, "EC COMMIT\n"), "EC OK\n") == 0);
    memset(&loaded, 0, sizeof loaded);
    CHECK_EQ(ec_settings_load(&loaded), EC_SETTING_COUNT);
    CHECK(strcmp(ec_settings_get(&loaded, EC_SET_DEVICE_ID), "cam-01") == 0);
    CHECK_EQ(ec_settings_thresholds(&loaded, &t), EC_OK);
    CHECK(t.conf_threshold == 0.8f && t.margin_threshold == 0.25f);
    CHECK(strcmp(run_line(&p, "EC EXIT\n"), "EC OK\n") == 0);
    CHECK(!ec_provision_paused(&p, 1000));
    /* idle timeout ends the pause */
    host_now_ms = 5000;
    CHECK(strcmp(run_line(&p, "EC HELLO\n"), "EC OK 0.1.0 cam-01\n") == 0);
    CHECK(ec_provision_paused(&p, 5000 + EC_PROVISION_IDLE_MS - 1));
    CHECK(!ec_provision_paused(&p, 5000 + EC_PROVISION_IDLE_MS));
    CHECK(strcmp(run_line(&p, "EC REBOOT\n"), "EC OK\n") == 0);
    CHECK(p.reboot_requested);
}

void test_report_rejects(void)
{
    uint8_t buf[128];
    size_t len;
    ec_report_t r;
    memset(&r, 0, sizeof r);
    r.device_id = "cam-01";
    r.model_id = "m";
    r.k = 2;
    r.confidences[0] = 10;
    r.confidences[1] = 20; /* not sorted */
    CHECK_EQ(ec_report_encode(&r, buf, sizeof buf, &len), EC_ERR_ARG);
    r.confidences[1] = 5;
    CHECK_EQ(ec_report_encode(&r, buf, sizeof buf, &len), EC_OK);
    r.device_id = "no/slash";
    CHECK_EQ(ec_report_encode(&r, buf, sizeof buf, &len), EC_ERR_ARG);
    r.device_id = "cam-01";
    r.k = 11;
    CHECK_EQ(ec_report_encode(&r, buf, sizeof buf, &len), EC_ERR_ARG);
}

void test_outbox(void);
void test_outbox(void)
{
    uint8_t pool[64];
    ec_ring_slot_t slots[3];
    ec_ring_t ring;
    ec_outbox_t ob;
    bool sent = false;
    uint8_t msg[4] = {1, 0, 0, 0};
    int i;
    host_platform_reset();
    CHECK_EQ(ec_ring_init(&ring, pool, sizeof pool, slots, 3), EC_OK);
    CHECK_EQ(ec_outbox_init(&ob, &ring, "t/dev/x/report"), EC_OK);
    CHECK_EQ(ec_outbox_send(&ob, msg, sizeof msg, false, &sent), EC_OK);
    CHECK(sent);
    CHECK_EQ(host_published_count, 1);
    CHECK_EQ(host_published[0].qos, 1);
    CHECK(!host_published[0].retain);
    /* link down: reports 2..5 go to the ring; 3 slots, so the oldest plain one goes */
    host_publish_fails = true;
    for (i = 2; i <= 5; i++) {
        msg[0] = (uint8_t)i;
        CHECK_EQ(ec_outbox_send(&ob, msg, sizeof msg, i == 3, &sent), EC_OK);
        CHECK(!sent);
    }
    CHECK_EQ(ring.stats.dropped_plain, 1); /* report 2 */
    CHECK_EQ(ec_outbox_drain(&ob, 10), 0); /* still down: nothing lost, nothing sent */
    CHECK_EQ(ec_ring_count(&ring), 3);
    /* link back: a new report must not overtake the kept ones */
    host_publish_fails = false;
    msg[0] = 6;
    CHECK_EQ(ec_outbox_send(&ob, msg, sizeof msg, false, &sent), EC_OK);
    CHECK(!sent);
    CHECK_EQ(ring.stats.dropped_plain, 2); /* ring full again: report 4 goes */
    CHECK_EQ(ec_outbox_drain(&ob, 1), 1);
    CHECK_EQ(ec_outbox_drain(&ob, 10), 2);
    CHECK_EQ(host_published_count, 4);
    CHECK_EQ(host_published[1].payload[0], 3);
    CHECK_EQ(host_published[2].payload[0], 5);
    CHECK_EQ(host_published[3].payload[0], 6);
    CHECK_EQ(ob.sent, 4);
    CHECK_EQ(ob.sent + ec_ring_dropped(&ring), 6); /* every report sent or counted */
}
