/* Host unit-test runner: runs every test, prints "N passed, N failed" last. */
#include <stdio.h>

#include "ec_test.h"

int ec_test_failures;

void test_report_vectors(void);
void test_state_vectors(void);
void test_config_vector(void);
void test_topics(void);
void test_policy(void);
void test_ring(void);
void test_framing(void);
void test_config_rejects(void);
void test_msgpack_reader(void);
void test_provision(void);
void test_report_rejects(void);
void test_session_config(void);
void test_outbox(void);
void test_report_opts(void);
void test_sha256(void);
void test_ota_vectors(void);
void test_ota_flow(void);
void test_preprocess_vectors(void);
void test_preprocess_rules(void);
void test_preprocess_large_box(void);

#ifdef EC_TEST_FORCE_FAIL
/* Built only by tests/firmware's proof that a failing check reaches the exit code
 * (make qemu-test QEMU_DEFS=-DEC_TEST_FORCE_FAIL). */
static void test_forced_failure(void)
{
    CHECK_EQ(1 + 1, 3);
}
#endif

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

static const test_case_t tests[] = {
    {"report_vectors", test_report_vectors},   {"state_vectors", test_state_vectors},
    {"config_vector", test_config_vector},     {"topics", test_topics},
    {"policy", test_policy},                   {"ring", test_ring},
    {"framing", test_framing},                 {"config_rejects", test_config_rejects},
    {"msgpack_reader", test_msgpack_reader},   {"provision", test_provision},
    {"report_rejects", test_report_rejects},   {"session_config", test_session_config},
    {"outbox", test_outbox},                   {"report_opts", test_report_opts},
    {"sha256", test_sha256},                   {"ota_vectors", test_ota_vectors},
    {"ota_flow", test_ota_flow},
    {"preprocess_vectors", test_preprocess_vectors},
    {"preprocess_rules", test_preprocess_rules},
    {"preprocess_large_box", test_preprocess_large_box},
#ifdef EC_TEST_FORCE_FAIL
    {"forced_failure", test_forced_failure},
#endif
};

int main(void)
{
    int passed = 0;
    int failed = 0;
    size_t i;
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = ec_test_failures;
        tests[i].fn();
        if (ec_test_failures == before) {
            passed++;
            printf("PASS %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", tests[i].name, ec_test_failures - before);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
