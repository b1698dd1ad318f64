#include "ec_ota.h"

#include <string.h>

#include "ec_config.h"
#include "ec_msgpack.h"
#include "ec_report.h"

/* ================================================================ sha256 ======== */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32u - n));
}

static void sha_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64];
    uint32_t v[8];
    unsigned i;
    for (i = 0; i < 16u; i++) {
        w[i] = ((uint32_t)p[4u * i] << 24) | ((uint32_t)p[4u * i + 1u] << 16) |
               ((uint32_t)p[4u * i + 2u] << 8) | (uint32_t)p[4u * i + 3u];
    }
    for (i = 16; i < 64u; i++) {
        uint32_t s0 = rotr(w[i - 15u], 7) ^ rotr(w[i - 15u], 18) ^ (w[i - 15u] >> 3);
        uint32_t s1 = rotr(w[i - 2u], 17) ^ rotr(w[i - 2u], 19) ^ (w[i - 2u] >> 10);
        w[i] = w[i - 16u] + s0 + w[i - 7u] + s1;
    }
    memcpy(v, h, sizeof v);
    for (i = 0; i < 64u; i++) {
        uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + s1 + ch + K[i] + w[i];
        uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        uint32_t t2 = s0 + maj;
        v[7] = v[6];
        v[6] = v[5];
        v[5] = v[4];
        v[4] = v[3] + t1;
        v[3] = v[2];
        v[2] = v[1];
        v[1] = v[0];
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8u; i++) {
        h[i] += v[i];
    }
}

void ec_sha256_init(ec_sha256_t *s)
{
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->h, H0, sizeof H0);
    s->total = 0;
    s->fill = 0;
}

void ec_sha256_update(ec_sha256_t *s, const uint8_t *data, size_t len)
{
    s->total += len;
    while (len > 0) {
        size_t take = 64u - s->fill;
        if (take > len) {
            take = len;
        }
        memcpy(s->block + s->fill, data, take);
        s->fill += take;
        data += take;
        len -= take;
        if (s->fill == 64u) {
            sha_block(s->h, s->block);
            s->fill = 0;
        }
    }
}

void ec_sha256_final(ec_sha256_t *s, uint8_t out[EC_SHA256_BYTES])
{
    uint64_t bits = s->total * 8u;
    unsigned i;
    s->block[s->fill++] = 0x80u;
    if (s->fill > 56u) {
        memset(s->block + s->fill, 0, 64u - s->fill);
        sha_block(s->h, s->block);
        s->fill = 0;
    }
    memset(s->block + s->fill, 0, 56u - s->fill);
    for (i = 0; i < 8u; i++) {
        s->block[56u + i] = (uint8_t)(bits >> (56u - 8u * i));
    }
    sha_block(s->h, s->block);
    for (i = 0; i < 32u; i++) {
        out[i] = (uint8_t)(s->h[i / 4u] >> (24u - 8u * (i % 4u)));
    }
}

/* ================================================================ decoding ====== */
#define MAX_KEYS 12

typedef struct {
    ec_mp_value_t vals[MAX_KEYS];
    size_t items_at[MAX_KEYS]; /* reader position of an array's first item */
    bool seen[MAX_KEYS];
} fields_t;

/* Read a whole map into f (keys 0..nkeys-1, others skipped), validating all of it. */
static int read_fields(const uint8_t *data, size_t len, unsigned nkeys, fields_t *f,
                       ec_mp_reader_t *r, int *bad_key)
{
    ec_mp_value_t head;
    uint32_t i;
    int rc;
    *bad_key = -1;
    if (data == NULL) {
        return EC_ERR_ARG;
    }
    if (len == 0) {
        return EC_ERR_TRUNCATED;
    }
    memset(f, 0, sizeof *f);
    ec_mp_reader_init(r, data, len);
    rc = ec_mp_read(r, &head);
    if (rc == EC_OK) {
        rc = ec_mp_skip_items(r, &head);
    }
    if (rc != EC_OK) {
        return rc;
    }
    if (r->pos != len) {
        return EC_ERR_MALFORMED;
    }
    if (head.type != EC_MP_MAP) {
        return EC_ERR_TYPE;
    }
    ec_mp_reader_init(r, data, len);
    (void)ec_mp_read(r, &head);
    for (i = 0; i < head.n; i++) {
        ec_mp_value_t key;
        rc = ec_mp_read(r, &key);
        if (rc != EC_OK) {
            return rc;
        }
        if (key.type == EC_MP_UINT && key.u < nkeys) {
            rc = ec_mp_read(r, &f->vals[key.u]);
            if (rc != EC_OK) {
                return rc;
            }
            f->seen[key.u] = true;
            f->items_at[key.u] = r->pos;
            rc = ec_mp_skip_items(r, &f->vals[key.u]);
        } else {
            rc = ec_mp_skip(r);
        }
        if (rc != EC_OK) {
            return rc;
        }
    }
    if (!f->seen[0] || f->vals[0].type != EC_MP_UINT || f->vals[0].u < 1u) {
        *bad_key = 0;
        return EC_ERR_SCHEMA;
    }
    return EC_OK;
}

static int get_uint(const ec_mp_value_t *v, uint64_t max, uint64_t *out)
{
    if (v->type == EC_MP_INT) {
        return EC_ERR_RANGE;
    }
    if (v->type != EC_MP_UINT) {
        return EC_ERR_TYPE;
    }
    if (v->u > max) {
        return EC_ERR_RANGE;
    }
    *out = v->u;
    return EC_OK;
}

static int get_u32(const ec_mp_value_t *v, uint32_t *out)
{
    uint64_t u = 0;
    int rc = get_uint(v, 0xffffffffu, &u);
    *out = (uint32_t)u;
    return rc;
}

static int get_text(const ec_mp_value_t *v, char *out, size_t max)
{
    if (v->type != EC_MP_STR) {
        return EC_ERR_TYPE;
    }
    if (v->n < 1u || v->n > max) {
        return EC_ERR_RANGE;
    }
    memcpy(out, v->ptr, v->n);
    out[v->n] = '\0';
    return EC_OK;
}

static bool is_id(const uint8_t *p, uint32_t n)
{
    uint32_t i;
    if (n < 1u || n > EC_MAX_ID_LENGTH) {
        return false;
    }
    for (i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* Key 11: an array of device ids; sets *mine when device_id is one of them. */
static int get_devices(const uint8_t *data, size_t len, const fields_t *f,
                       const char *device_id, bool *mine)
{
    const ec_mp_value_t *v = &f->vals[11];
    ec_mp_reader_t r;
    size_t want = device_id != NULL ? strlen(device_id) : 0;
    uint32_t i;
    if (v->type != EC_MP_ARRAY) {
        return EC_ERR_TYPE;
    }
    if (v->n > EC_MAX_OTA_TARGETS) {
        return EC_ERR_RANGE;
    }
    *mine = v->n == 0u;
    ec_mp_reader_init(&r, data, len);
    r.pos = f->items_at[11];
    for (i = 0; i < v->n; i++) {
        ec_mp_value_t item;
        int rc = ec_mp_read(&r, &item);
        if (rc != EC_OK) {
            return rc;
        }
        if (item.type != EC_MP_STR) {
            return EC_ERR_TYPE;
        }
        if (!is_id(item.ptr, item.n)) {
            return EC_ERR_RANGE;
        }
        if (item.n == want && want > 0 && memcmp(item.ptr, device_id, want) == 0) {
            *mine = true;
        }
    }
    return EC_OK;
}

uint32_t ec_manifest_chunks(const ec_manifest_t *m)
{
    return m->chunk_bytes == 0u ? 0u : (m->size + m->chunk_bytes - 1u) / m->chunk_bytes;
}

int ec_manifest_decode(const uint8_t *data, size_t len, const char *device_id,
                       ec_manifest_t *out, int *bad_key)
{
    static const char *const tiers[] = {"mcu", "edge", "cloud"};
    fields_t f;
    ec_mp_reader_t r;
    ec_manifest_t m;
    int dummy;
    int rc;
    unsigned i;
    if (bad_key == NULL) {
        bad_key = &dummy;
    }
    if (out == NULL) {
        return EC_ERR_ARG;
    }
    rc = read_fields(data, len, 12, &f, &r, bad_key);
    if (rc != EC_OK) {
        return rc;
    }
    memset(&m, 0, sizeof m);
    m.targets_me = true;
    for (i = 1; i < 12u; i++) {
        const ec_mp_value_t *v = &f.vals[i];
        *bad_key = (int)i;
        if (!f.seen[i]) {
            if (i == 11u) {
                continue;
            }
            return EC_ERR_MISSING;
        }
        if (v->type == EC_MP_NIL) {
            return EC_ERR_TYPE;
        }
        switch (i) {
        case 1: rc = get_text(v, m.model_id, EC_MAX_ID_LENGTH); break;
        case 2: rc = get_u32(v, &m.version); break;
        case 3:
            rc = get_text(v, m.tier, sizeof m.tier - 1u);
            if (rc == EC_OK) {
                rc = EC_ERR_RANGE;
                for (size_t t = 0; t < 3u; t++) {
                    if (strcmp(m.tier, tiers[t]) == 0) {
                        rc = EC_OK;
                    }
                }
            }
            break;
        case 4:
            if (v->type != EC_MP_BIN) {
                rc = EC_ERR_TYPE;
            } else if (v->n != EC_SHA256_BYTES) {
                rc = EC_ERR_RANGE;
            } else {
                memcpy(m.sha256, v->ptr, EC_SHA256_BYTES);
                rc = EC_OK;
            }
            break;
        case 5: rc = get_u32(v, &m.size); break;
        case 6: rc = get_u32(v, &m.arena_bytes); break;
        case 7: rc = get_u32(v, &m.chunk_bytes); break;
        case 8: rc = ec_mp_as_float32(v, 0.0f, 1.0f, &m.conf_threshold); break;
        case 9: rc = ec_mp_as_float32(v, 0.0f, 1.0f, &m.margin_threshold); break;
        case 10: rc = ec_mp_as_float32(v, 0.0f, 3.4028235e38f, &m.complexity_limit); break;
        default: rc = get_devices(data, len, &f, device_id, &m.targets_me); break;
        }
        if (rc != EC_OK) {
            return rc;
        }
    }
    /* ModelManifest.check() */
    if (m.size < 1u || m.size > EC_MAX_MODEL_BYTES) {
        *bad_key = 5;
        return EC_ERR_RANGE;
    }
    if (m.chunk_bytes < 1u || m.chunk_bytes > EC_MAX_MODEL_CHUNK_BYTES ||
        ec_manifest_chunks(&m) > EC_MAX_MODEL_CHUNKS) {
        *bad_key = 7;
        return EC_ERR_RANGE;
    }
    if (m.version == 0u) {
        *bad_key = 2;
        return EC_ERR_RANGE;
    }
    *bad_key = -1;
    *out = m;
    return EC_OK;
}

int ec_chunk_decode(const uint8_t *data, size_t len, ec_chunk_t *out, int *bad_key)
{
    fields_t f;
    ec_mp_reader_t r;
    ec_chunk_t c;
    uint64_t u = 0;
    int dummy;
    int rc;
    unsigned i;
    if (bad_key == NULL) {
        bad_key = &dummy;
    }
    if (out == NULL) {
        return EC_ERR_ARG;
    }
    rc = read_fields(data, len, 6, &f, &r, bad_key);
    if (rc != EC_OK) {
        return rc;
    }
    memset(&c, 0, sizeof c);
    for (i = 1; i < 6u; i++) {
        const ec_mp_value_t *v = &f.vals[i];
        *bad_key = (int)i;
        if (!f.seen[i]) {
            return EC_ERR_MISSING;
        }
        switch (i) {
        case 1: rc = get_text(v, c.model_id, EC_MAX_ID_LENGTH); break;
        case 2: rc = get_u32(v, &c.version); break;
        case 3:
            rc = get_uint(v, 0xffffu, &u);
            c.index = (uint16_t)u;
            break;
        case 4: rc = get_u32(v, &c.offset); break;
        default:
            if (v->type != EC_MP_BIN) {
                rc = EC_ERR_TYPE;
            } else if (v->n < 1u || v->n > EC_MAX_MODEL_CHUNK_BYTES) {
                rc = EC_ERR_RANGE;
            } else {
                c.data = v->ptr;
                c.len = v->n;
            }
            break;
        }
        if (rc != EC_OK) {
            return rc;
        }
    }
    *bad_key = -1;
    *out = c;
    return EC_OK;
}

/* ================================================================ decisions ===== */
static const char *const REASONS[EC_OTA_REASON_COUNT] = {
    "ok", "in_progress", "too_large", "arena_too_small", "bad_chunk",
    "sha256_mismatch", "load_failed", "self_test_failed", "storage",
};

const char *ec_ota_reason_name(ec_ota_reason_t reason)
{
    return (unsigned)reason < (unsigned)EC_OTA_REASON_COUNT ? REASONS[reason] : "?";
}

ec_ota_verdict_t ec_ota_admit(const ec_manifest_t *m, const char *model_id,
                              uint32_t running_version, uint32_t arena_bytes,
                              uint32_t slot_bytes, ec_ota_reason_t *reason)
{
    *reason = EC_OTA_OK;
    if (!m->targets_me || strcmp(m->model_id, model_id) != 0 ||
        m->version == running_version) {
        return EC_OTA_IGNORE;
    }
    if (m->size > slot_bytes) {
        *reason = EC_OTA_TOO_LARGE;
        return EC_OTA_REJECT;
    }
    if (m->arena_bytes > arena_bytes) {
        *reason = EC_OTA_ARENA_TOO_SMALL;
        return EC_OTA_REJECT;
    }
    return EC_OTA_START;
}

/* ================================================================ assembly ====== */
int ec_ota_begin(ec_ota_t *ota, const ec_manifest_t *m, const ec_ota_record_t *record,
                 const ec_ota_slots_t *slots)
{
    if (ota == NULL || m == NULL || record == NULL || slots == NULL) {
        return EC_ERR_ARG;
    }
    memset(ota, 0, sizeof *ota);
    ota->manifest = *m;
    ota->slot = 1 - (int)record->active;
    if (slots->erase(slots->ctx, ota->slot, m->size) != 0) {
        return EC_ERR_IO;
    }
    ota->busy = true;
    return EC_OK;
}

int ec_ota_chunk(ec_ota_t *ota, const ec_chunk_t *c, const ec_ota_slots_t *slots)
{
    const ec_manifest_t *m = &ota->manifest;
    uint32_t chunks = ec_manifest_chunks(m);
    uint32_t want;
    if (!ota->busy || strcmp(c->model_id, m->model_id) != 0 || c->version != m->version ||
        c->index >= chunks) {
        return EC_ERR_RANGE;
    }
    want = m->size - (uint32_t)c->index * m->chunk_bytes;
    if (want > m->chunk_bytes) {
        want = m->chunk_bytes;
    }
    if (c->offset != (uint32_t)c->index * m->chunk_bytes || c->len != want) {
        return EC_ERR_RANGE;
    }
    if (((unsigned)ota->have[c->index / 8u] >> (c->index % 8u)) & 1u) {
        return EC_OTA_CHUNK_DUPLICATE;
    }
    if (slots->write(slots->ctx, ota->slot, c->offset, c->data, c->len) != 0) {
        return EC_ERR_IO;
    }
    ota->have[c->index / 8u] = (uint8_t)(ota->have[c->index / 8u] | (1u << (c->index % 8u)));
    ota->received++;
    return EC_OTA_CHUNK_STORED;
}

bool ec_ota_complete(const ec_ota_t *ota)
{
    return ota->busy && ota->received == ec_manifest_chunks(&ota->manifest);
}

ec_ota_reason_t ec_ota_install(ec_ota_t *ota, const ec_ota_slots_t *slots,
                               ec_ota_self_test_fn self_test, void *ctx,
                               ec_ota_record_t *record)
{
    ec_sha256_t s;
    uint8_t buf[256];
    uint8_t digest[EC_SHA256_BYTES];
    uint32_t off = 0;
    int rc;
    if (!ec_ota_complete(ota)) {
        return EC_OTA_IN_PROGRESS;
    }
    ota->busy = false;
    ec_sha256_init(&s);
    while (off < ota->manifest.size) { /* hash what the slot holds, not what arrived */
        uint32_t n = ota->manifest.size - off;
        if (n > sizeof buf) {
            n = (uint32_t)sizeof buf;
        }
        if (slots->read(slots->ctx, ota->slot, off, buf, n) != 0) {
            return EC_OTA_STORAGE;
        }
        ec_sha256_update(&s, buf, n);
        off += n;
    }
    ec_sha256_final(&s, digest);
    if (memcmp(digest, ota->manifest.sha256, EC_SHA256_BYTES) != 0) {
        return EC_OTA_SHA256_MISMATCH;
    }
    if (self_test != NULL) {
        rc = self_test(ctx, ota->slot, &ota->manifest);
        if (rc != 0) {
            return rc == (int)EC_OTA_LOAD_FAILED ? EC_OTA_LOAD_FAILED : EC_OTA_SELF_TEST_FAILED;
        }
    }
    ec_ota_switch(record);
    return EC_OTA_OK;
}

/* ================================================================ slot record === */
void ec_ota_switch(ec_ota_record_t *record)
{
    record->active = (uint8_t)(1u - record->active);
    record->trial = true;
    record->tries = 0;
}

ec_ota_boot_t ec_ota_boot(ec_ota_record_t *record)
{
    if (!record->trial) {
        return EC_OTA_BOOT_NORMAL;
    }
    if (record->tries == 0u) {
        record->tries = 1;
        return EC_OTA_BOOT_TRIAL;
    }
    record->active = (uint8_t)(1u - record->active);
    record->trial = false;
    record->tries = 0;
    return EC_OTA_BOOT_ROLLED_BACK;
}

void ec_ota_confirm(ec_ota_record_t *record)
{
    record->trial = false;
    record->tries = 0;
}

/* ================================================================ topics ======== */
static int join(char *buf, size_t cap, const char *const *parts, size_t n)
{
    size_t len = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);
        if (k >= cap - len) {
            return EC_ERR_NOSPACE;
        }
        memcpy(buf + len, parts[i], k);
        len += k;
    }
    buf[len] = '\0';
    return len > EC_MAX_TOPIC_BYTES ? EC_ERR_RANGE : EC_OK;
}

int ec_ota_topic_manifest(char *buf, size_t cap, const char *prefix, const char *tier)
{
    const char *parts[5];
    if (buf == NULL || cap == 0 || prefix == NULL || prefix[0] == '\0' || !ec_id_valid(tier)) {
        return EC_ERR_ARG;
    }
    parts[0] = prefix;
    parts[1] = "/models/";
    parts[2] = tier;
    parts[3] = "/manifest";
    return join(buf, cap, parts, 4);
}

int ec_ota_topic_chunks(char *buf, size_t cap, const char *prefix, const char *tier,
                        uint32_t version)
{
    char digits[11];
    char *p = digits + sizeof digits - 1u;
    const char *parts[6];
    if (buf == NULL || cap == 0 || prefix == NULL || prefix[0] == '\0' || !ec_id_valid(tier)) {
        return EC_ERR_ARG;
    }
    *p = '\0';
    do {
        *--p = (char)('0' + version % 10u);
        version /= 10u;
    } while (version != 0u);
    parts[0] = prefix;
    parts[1] = "/models/";
    parts[2] = tier;
    parts[3] = "/v";
    parts[4] = p;
    parts[5] = "/+";
    return join(buf, cap, parts, 6);
}

/* ================================================================ status ======== */
int ec_ota_status_encode(const ec_ota_status_t *st, uint8_t *buf, size_t cap,
                         size_t *out_len)
{
    ec_mp_writer_t w;
    size_t n;
    if (st == NULL || buf == NULL || !ec_id_valid(st->device_id) || st->model_id == NULL ||
        st->state == NULL || (unsigned)st->reason >= (unsigned)EC_OTA_REASON_COUNT) {
        return EC_ERR_ARG;
    }
    n = strlen(st->model_id);
    if (n < 1u || n > EC_MAX_ID_LENGTH) {
        return EC_ERR_ARG;
    }
    ec_mp_writer_init(&w, buf, cap);
    ec_mp_write_map(&w, 8);
    ec_mp_write_uint(&w, 0);
    ec_mp_write_uint(&w, EC_SCHEMA_VERSION);
    ec_mp_write_uint(&w, 1);
    ec_mp_write_str(&w, st->device_id, strlen(st->device_id));
    ec_mp_write_uint(&w, 2);
    ec_mp_write_uint(&w, st->ts_ms);
    ec_mp_write_uint(&w, 3);
    ec_mp_write_str(&w, st->model_id, n);
    ec_mp_write_uint(&w, 4);
    ec_mp_write_uint(&w, st->version);
    ec_mp_write_uint(&w, 5);
    ec_mp_write_str(&w, st->state, strlen(st->state));
    ec_mp_write_uint(&w, 6);
    ec_mp_write_str(&w, REASONS[st->reason], strlen(REASONS[st->reason]));
    ec_mp_write_uint(&w, 7);
    ec_mp_write_uint(&w, st->running_version);
    if (w.err != EC_OK) {
        return w.err;
    }
    if (out_len != NULL) {
        *out_len = w.len;
    }
    return EC_OK;
}
