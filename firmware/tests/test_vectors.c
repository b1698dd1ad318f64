/* Golden-vector parity: the C encoders produce the bytes of protocol/vectors. */
#include <stdlib.h>
#include <string.h>

#include "ec_config.h"
#include "ec_report.h"
#include "ec_test.h"
#include "ec_topics.h"
#include "ec_vectors.h"

void test_report_vectors(void);
void test_state_vectors(void);
void test_config_vector(void);
void test_topics(void);

static unsigned f32_bits(float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}

void test_report_vectors(void)
{
    static uint8_t buf[4096];
    size_t i;
    for (i = 0; i < sizeof report_vectors / sizeof report_vectors[0]; i++) {
        const report_vector_t *v = &report_vectors[i];
        size_t len = 0;
        int rc = ec_report_encode(&v->report, buf, sizeof buf, &len);
        CHECK_EQ(rc, EC_OK);
        CHECK_EQ(len, v->len);
        if (len != v->len || memcmp(buf, v->bin, len) != 0) {
            fprintf(stderr, "vector %s: bytes differ\n", v->name);
            CHECK(0);
        }
        /* every capacity short of the exact size: a clean NOSPACE, never an overrun
         * (the buffer is heap-exact under ASan, so one byte too far would trap) */
        {
            size_t cap;
            for (cap = 0; cap < v->len; cap++) {
                uint8_t *exact = malloc(cap > 0 ? cap : 1);
                CHECK_EQ(ec_report_encode(&v->report, exact, cap, &len), EC_ERR_NOSPACE);
                free(exact);
            }
        }
    }
    CHECK(i >= 5);
}

void test_state_vectors(void)
{
    uint8_t buf[256];
    size_t i;
    for (i = 0; i < sizeof state_vectors / sizeof state_vectors[0]; i++) {
        const state_vector_t *v = &state_vectors[i];
        size_t len = 0;
        CHECK_EQ(ec_state_encode(&v->state, buf, sizeof buf, &len), EC_OK);
        CHECK_EQ(len, v->len);
        CHECK(len == v->len && memcmp(buf, v->bin, len) == 0);
    }
    CHECK(i == 2);
}

void test_config_vector(void)
{
    ec_config_t c;
    int bad = 0;
    size_t cut;
    CHECK_EQ(ec_config_decode(config_vector_bin, sizeof config_vector_bin, &c, &bad), EC_OK);
    CHECK_EQ(c.revision, CONFIG_VECTOR_REVISION);
    CHECK_EQ(f32_bits(c.conf_threshold), CONFIG_VECTOR_CONF_BITS);
    CHECK_EQ(f32_bits(c.margin_threshold), CONFIG_VECTOR_MARGIN_BITS);
    CHECK_EQ(f32_bits(c.complexity_limit), CONFIG_VECTOR_LIMIT_BITS);
    CHECK_EQ(c.has_epoch, CONFIG_VECTOR_HAS_EPOCH);
    CHECK_EQ(c.epoch, CONFIG_VECTOR_EPOCH);
    /* every truncated prefix is a clean error */
    for (cut = 0; cut < sizeof config_vector_bin; cut++) {
        CHECK(ec_config_decode(config_vector_bin, cut, &c, &bad) < 0);
    }
}

void test_topics(void)
{
    char buf[EC_TOPIC_MAX + 1];
    CHECK_EQ(ec_topic_build(buf, sizeof buf, "ec/v1", "cam-01", EC_TOPIC_REPORT), EC_OK);
    CHECK(strcmp(buf, TOPIC_REPORT_CAM01) == 0);
    CHECK_EQ(ec_topic_build(buf, sizeof buf, "ec/v1", "cam-01", EC_TOPIC_STATE), EC_OK);
    CHECK(strcmp(buf, TOPIC_STATE_CAM01) == 0);
    CHECK_EQ(ec_topic_build(buf, sizeof buf, "ec/v1", "cam-01", EC_TOPIC_CONFIG), EC_OK);
    CHECK(strcmp(buf, TOPIC_CONFIG_CAM01) == 0);
    CHECK_EQ(ec_topic_build(buf, sizeof buf, "ec/v1", "bad id", EC_TOPIC_REPORT), EC_ERR_ARG);
    CHECK_EQ(ec_topic_build(buf, 10, "ec/v1", "cam-01", EC_TOPIC_REPORT), EC_ERR_NOSPACE);
}
