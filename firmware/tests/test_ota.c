/* OTA core: sha256 against hashlib, manifest/chunk/status golden vectors, and the
 * whole assembly -> verify -> self-test -> switch -> trial -> rollback flow on RAM slots. */
#include <string.h>

#include "ec_ota.h"
#include "ec_test.h"
#include "ec_topics.h"
#include "ec_vectors.h"

void test_sha256(void);
void test_ota_vectors(void);
void test_ota_flow(void);

static unsigned bits_of(float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}

void test_sha256(void)
{
    static uint8_t data[4099];
    size_t i;
    for (i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)((i * 7u + 3u) % 256u);
    }
    for (i = 0; i < sizeof sha_vectors / sizeof sha_vectors[0]; i++) {
        const sha_vector_t *v = &sha_vectors[i];
        ec_sha256_t s;
        uint8_t out[32];
        size_t off = 0;
        ec_sha256_init(&s);
        ec_sha256_update(&s, data, v->len);
        ec_sha256_final(&s, out);
        CHECK(memcmp(out, v->digest, 32) == 0);
        ec_sha256_init(&s); /* the same in uneven pieces */
        while (off < v->len) {
            size_t n = v->len - off < 7u ? v->len - off : 7u;
            ec_sha256_update(&s, data + off, n);
            off += n;
        }
        ec_sha256_final(&s, out);
        CHECK(memcmp(out, v->digest, 32) == 0);
    }
}

void test_ota_vectors(void)
{
    static uint8_t buf[512];
    size_t i;
    size_t cut;
    for (i = 0; i < sizeof manifest_vectors / sizeof manifest_vectors[0]; i++) {
        const manifest_vector_t *v = &manifest_vectors[i];
        ec_manifest_t m;
        int bad = 0;
        CHECK_EQ(ec_manifest_decode(v->bin, v->len, "cam-01", &m, &bad), EC_OK);
        CHECK(strcmp(m.model_id, v->model_id) == 0);
        CHECK(strcmp(m.tier, v->tier) == 0);
        CHECK_EQ(m.version, v->version);
        CHECK(memcmp(m.sha256, v->sha256, 32) == 0);
        CHECK_EQ(m.size, v->size);
        CHECK_EQ(m.arena_bytes, v->arena_bytes);
        CHECK_EQ(m.chunk_bytes, v->chunk_bytes);
        CHECK_EQ(bits_of(m.conf_threshold), v->conf_bits);
        CHECK_EQ(bits_of(m.margin_threshold), v->margin_bits);
        CHECK_EQ(bits_of(m.complexity_limit), v->limit_bits);
        CHECK_EQ(m.targets_me, v->targets_cam01);
        CHECK_EQ(ec_manifest_decode(v->bin, v->len, "cam-99", &m, &bad), EC_OK);
        CHECK_EQ(m.targets_me, v->targets_other);
        for (cut = 0; cut < v->len; cut++) { /* every truncation: a clean error */
            CHECK(ec_manifest_decode(v->bin, cut, "cam-01", &m, &bad) < 0);
        }
    }
    for (i = 0; i < sizeof chunk_vectors / sizeof chunk_vectors[0]; i++) {
        const chunk_vector_t *v = &chunk_vectors[i];
        ec_chunk_t c;
        CHECK_EQ(ec_chunk_decode(v->bin, v->len, &c, NULL), EC_OK);
        CHECK(strcmp(c.model_id, v->model_id) == 0);
        CHECK_EQ(c.version, v->version);
        CHECK_EQ(c.index, v->index);
        CHECK_EQ(c.offset, v->offset);
        CHECK_EQ(c.len, v->data_len);
        CHECK(c.data != NULL && memcmp(c.data, v->data, v->data_len) == 0);
        for (cut = 0; cut < v->len; cut++) {
            CHECK(ec_chunk_decode(v->bin, cut, &c, NULL) < 0);
        }
    }
    for (i = 0; i < sizeof status_vectors / sizeof status_vectors[0]; i++) {
        const status_vector_t *v = &status_vectors[i];
        ec_ota_status_t st;
        size_t len = 0;
        st.device_id = v->device_id;
        st.ts_ms = v->ts_ms;
        st.model_id = v->model_id;
        st.version = v->version;
        st.state = v->state;
        st.reason = (ec_ota_reason_t)v->reason;
        st.running_version = v->running_version;
        CHECK_EQ(ec_ota_status_encode(&st, buf, sizeof buf, &len), EC_OK);
        CHECK(len == v->len && memcmp(buf, v->bin, len) == 0);
        CHECK_EQ(ec_ota_status_encode(&st, buf, v->len - 1u, &len), EC_ERR_NOSPACE);
    }
    {
        char t[EC_MAX_TOPIC_BYTES + 1];
        CHECK_EQ(ec_ota_topic_manifest(t, sizeof t, "ec/v1", "mcu"), EC_OK);
        CHECK(strcmp(t, TOPIC_MANIFEST_MCU) == 0);
        CHECK_EQ(ec_ota_topic_chunks(t, sizeof t, "ec/v1", "mcu", 2), EC_OK);
        CHECK(strcmp(t, TOPIC_CHUNK_MCU_V2_FILTER) == 0);
        CHECK_EQ(ec_topic_build(t, sizeof t, "ec/v1", "cam-01", EC_TOPIC_OTA), EC_OK);
        CHECK(strcmp(t, TOPIC_OTA_CAM01) == 0);
        CHECK_EQ(ec_ota_topic_chunks(t, 12, "ec/v1", "mcu", 2), EC_ERR_NOSPACE);
        CHECK_EQ(ec_ota_topic_manifest(t, sizeof t, "ec/v1", "bad tier"), EC_ERR_ARG);
    }
    CHECK_EQ(sizeof ota_reason_names / sizeof ota_reason_names[0], EC_OTA_REASON_COUNT);
    for (i = 0; i < (size_t)EC_OTA_REASON_COUNT; i++) {
        CHECK(strcmp(ec_ota_reason_name((ec_ota_reason_t)i), ota_reason_names[i]) == 0);
    }
}

/* ---- RAM slots with a fault switch ---- */
#define SLOT 8192u
typedef struct {
    uint8_t mem[2][SLOT];
    int fail_write;
} ram_slots_t;

static int ram_erase(void *ctx, int slot, uint32_t size)
{
    ram_slots_t *r = ctx;
    if (size > SLOT) {
        return -1;
    }
    memset(r->mem[slot], 0xff, SLOT);
    return 0;
}

static int ram_write(void *ctx, int slot, uint32_t off, const uint8_t *d, size_t n)
{
    ram_slots_t *r = ctx;
    if (r->fail_write || off + n > SLOT) {
        return -1;
    }
    memcpy(r->mem[slot] + off, d, n);
    return 0;
}

static int ram_read(void *ctx, int slot, uint32_t off, uint8_t *d, size_t n)
{
    ram_slots_t *r = ctx;
    memcpy(d, r->mem[slot] + off, n);
    return 0;
}

static int self_test_result;
static int self_test(void *ctx, int slot, const ec_manifest_t *m)
{
    (void)ctx;
    (void)slot;
    (void)m;
    return self_test_result;
}

static ram_slots_t ram;
static uint8_t model[5000];

static void feed_all(ec_ota_t *ota, const ec_ota_slots_t *slots, const ec_manifest_t *m)
{
    uint32_t n = ec_manifest_chunks(m);
    uint32_t k;
    for (k = n; k-- > 0;) { /* any order */
        ec_chunk_t c;
        strcpy(c.model_id, m->model_id);
        c.version = m->version;
        c.index = (uint16_t)k;
        c.offset = k * m->chunk_bytes;
        c.data = model + c.offset;
        c.len = m->size - c.offset < m->chunk_bytes ? m->size - c.offset : m->chunk_bytes;
        CHECK_EQ(ec_ota_chunk(ota, &c, slots), EC_OTA_CHUNK_STORED);
        CHECK_EQ(ec_ota_chunk(ota, &c, slots), EC_OTA_CHUNK_DUPLICATE);
    }
}

void test_ota_flow(void)
{
    ec_ota_slots_t slots = {ram_erase, ram_write, ram_read, &ram};
    ec_manifest_t m;
    ec_ota_t ota;
    ec_ota_record_t rec = {0, false, 0};
    ec_ota_reason_t why;
    ec_sha256_t s;
    ec_chunk_t c;
    size_t i;
    for (i = 0; i < sizeof model; i++) {
        model[i] = (uint8_t)(i * 31u + 5u);
    }
    memset(&m, 0, sizeof m);
    strcpy(m.model_id, "mnist-mcu");
    strcpy(m.tier, "mcu");
    m.version = 2;
    m.size = sizeof model;
    m.arena_bytes = 20000;
    m.chunk_bytes = 1024;
    m.targets_me = true;
    ec_sha256_init(&s);
    ec_sha256_update(&s, model, sizeof model);
    ec_sha256_final(&s, m.sha256);
    CHECK_EQ(ec_manifest_chunks(&m), 5);

    /* admission */
    CHECK_EQ(ec_ota_admit(&m, "mnist-mcu", 2, 32768, SLOT, &why), EC_OTA_IGNORE);
    CHECK_EQ(ec_ota_admit(&m, "other", 1, 32768, SLOT, &why), EC_OTA_IGNORE);
    CHECK_EQ(ec_ota_admit(&m, "mnist-mcu", 1, 16384, SLOT, &why), EC_OTA_REJECT);
    CHECK_EQ(why, EC_OTA_ARENA_TOO_SMALL);
    CHECK_EQ(ec_ota_admit(&m, "mnist-mcu", 1, 32768, 4096, &why), EC_OTA_REJECT);
    CHECK_EQ(why, EC_OTA_TOO_LARGE);
    m.targets_me = false;
    CHECK_EQ(ec_ota_admit(&m, "mnist-mcu", 1, 32768, SLOT, &why), EC_OTA_IGNORE);
    m.targets_me = true;
    CHECK_EQ(ec_ota_admit(&m, "mnist-mcu", 1, 32768, SLOT, &why), EC_OTA_START);

    /* bad chunks are refused, nothing written */
    CHECK_EQ(ec_ota_begin(&ota, &m, &rec, &slots), EC_OK);
    CHECK_EQ(ota.slot, 1);
    strcpy(c.model_id, "mnist-mcu");
    c.version = 2;
    c.index = 1;
    c.offset = 1000; /* not index * chunk_bytes */
    c.data = model;
    c.len = 1024;
    CHECK_EQ(ec_ota_chunk(&ota, &c, &slots), EC_ERR_RANGE);
    c.offset = 1024;
    c.len = 1000; /* short */
    CHECK_EQ(ec_ota_chunk(&ota, &c, &slots), EC_ERR_RANGE);
    c.len = 1024;
    c.version = 3;
    CHECK_EQ(ec_ota_chunk(&ota, &c, &slots), EC_ERR_RANGE);
    c.version = 2;
    c.index = 5;
    c.offset = 5u * 1024u;
    CHECK_EQ(ec_ota_chunk(&ota, &c, &slots), EC_ERR_RANGE);
    CHECK(!ec_ota_complete(&ota));
    CHECK_EQ(ec_ota_install(&ota, &slots, self_test, NULL, &rec), EC_OTA_IN_PROGRESS);

    /* a flash write that fails */
    ram.fail_write = 1;
    c.index = 0;
    c.offset = 0;
    CHECK_EQ(ec_ota_chunk(&ota, &c, &slots), EC_ERR_IO);
    ram.fail_write = 0;

    /* corrupted in flash: sha256 says no, the record is untouched */
    feed_all(&ota, &slots, &m);
    CHECK(ec_ota_complete(&ota));
    ram.mem[1][4321] ^= 0x10u;
    self_test_result = 0;
    CHECK_EQ(ec_ota_install(&ota, &slots, self_test, NULL, &rec), EC_OTA_SHA256_MISMATCH);
    CHECK_EQ(rec.active, 0);
    CHECK(!rec.trial);

    /* self-test failure: kept on the old slot */
    CHECK_EQ(ec_ota_begin(&ota, &m, &rec, &slots), EC_OK);
    feed_all(&ota, &slots, &m);
    self_test_result = (int)EC_OTA_SELF_TEST_FAILED;
    CHECK_EQ(ec_ota_install(&ota, &slots, self_test, NULL, &rec), EC_OTA_SELF_TEST_FAILED);
    CHECK_EQ(rec.active, 0);

    /* good: switch on trial; the first boot counts it; a second unconfirmed boot rolls back */
    CHECK_EQ(ec_ota_begin(&ota, &m, &rec, &slots), EC_OK);
    feed_all(&ota, &slots, &m);
    self_test_result = 0;
    CHECK_EQ(ec_ota_install(&ota, &slots, self_test, NULL, &rec), EC_OTA_OK);
    CHECK(memcmp(ram.mem[1], model, sizeof model) == 0);
    CHECK_EQ(rec.active, 1);
    CHECK(rec.trial);
    CHECK_EQ(ec_ota_boot(&rec), EC_OTA_BOOT_TRIAL);
    CHECK_EQ(ec_ota_boot(&rec), EC_OTA_BOOT_ROLLED_BACK);
    CHECK_EQ(rec.active, 0);
    CHECK(!rec.trial);
    CHECK_EQ(ec_ota_boot(&rec), EC_OTA_BOOT_NORMAL);

    /* and confirmed: it stays */
    ec_ota_switch(&rec);
    CHECK_EQ(ec_ota_boot(&rec), EC_OTA_BOOT_TRIAL);
    ec_ota_confirm(&rec);
    CHECK_EQ(ec_ota_boot(&rec), EC_OTA_BOOT_NORMAL);
    CHECK_EQ(rec.active, 1);
}
