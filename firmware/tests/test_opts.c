/* Unit tests of ec_report_opts (the board's deadline / priority / private options). */
#include <string.h>

#include "ec_err.h"
#include "ec_report_opts.h"
#include "ec_test.h"

void test_report_opts(void);

void test_report_opts(void)
{
    ec_report_t r;
    ec_report_opts_t none = {0u, -1, false};
    ec_report_opts_t all = {250u, 7, true};
    ec_report_opts_t bad = {100u, 256, true};

    memset(&r, 0, sizeof r);
    CHECK_EQ(ec_report_apply_opts(&r, &none), EC_OK);
    CHECK(!r.has_deadline && !r.has_priority && !r.is_private);

    CHECK_EQ(ec_report_apply_opts(&r, &all), EC_OK);
    CHECK(r.has_deadline && r.has_priority && r.is_private);
    CHECK_EQ(r.deadline_ms, 250);
    CHECK_EQ(r.priority, 7);

    /* out of range: refused, the report keeps what it had */
    CHECK_EQ(ec_report_apply_opts(&r, &bad), EC_ERR_RANGE);
    CHECK_EQ(r.deadline_ms, 250);
    CHECK_EQ(r.priority, 7);

    all.priority = 0; /* priority 0 is a value, not "absent" */
    CHECK_EQ(ec_report_apply_opts(&r, &all), EC_OK);
    CHECK(r.has_priority);
    CHECK_EQ(r.priority, 0);

    CHECK_EQ(ec_report_apply_opts(NULL, &all), EC_ERR_ARG);
    CHECK_EQ(ec_report_apply_opts(&r, NULL), EC_ERR_ARG);
}
