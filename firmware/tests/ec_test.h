/* ec_test.h - a tiny assert harness for the host unit tests.
 * CHECK(cond) records a failure with file:line and keeps going; each test function
 * is listed in test_main.c. The runner prints "N passed, N failed" last. */
#ifndef EC_TEST_H
#define EC_TEST_H

#include <stdio.h>

extern int ec_test_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            ec_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECK_EQ(a, b)                                                                \
    do {                                                                              \
        long long ec_a_ = (long long)(a);                                             \
        long long ec_b_ = (long long)(b);                                             \
        if (ec_a_ != ec_b_) {                                                         \
            ec_test_failures++;                                                       \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,     \
                    __LINE__, #a, ec_a_, #b, ec_b_);                                  \
        }                                                                             \
    } while (0)

#endif
