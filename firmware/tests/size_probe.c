/* size_probe.c - references every public core function so `make size-linked` can
 * link the core for Cortex-M4 (with the libgcc float helpers a soft-float build needs and
 * the libc string functions it pulls in) and report a whole-image figure. Platform seams are no-ops. */
#include <stddef.h>

#include "ec_config.h"
#include "ec_framing.h"
#include "ec_outbox.h"
#include "ec_platform.h"
#include "ec_policy.h"
#include "ec_prov_settings.h"
#include "ec_provision.h"
#include "ec_report.h"
#include "ec_report_opts.h"
#include "ec_ring.h"
#include "ec_topics.h"

uint64_t ec_platform_now_ms(void) { return 0; }
int ec_platform_publish(const char *t, const uint8_t *p, size_t n, int q, bool r)
{
    (void)t; (void)p; (void)n; (void)q; (void)r;
    return 0;
}
void ec_platform_log(ec_log_level_t l, const char *m) { (void)l; (void)m; }
int ec_platform_storage_get(const char *k, char *v, size_t c) { (void)k; (void)v; (void)c; return -13; }
int ec_platform_storage_set(const char *k, const char *v) { (void)k; (void)v; return 0; }

volatile const void *sink[] = {
    (const void *)ec_report_encode, (const void *)ec_state_encode,
    (const void *)ec_policy_init,   (const void *)ec_policy_decide,
    (const void *)ec_quantize_pixels, (const void *)ec_ring_init,
    (const void *)ec_ring_push,     (const void *)ec_ring_peek,
    (const void *)ec_ring_pop,      (const void *)ec_ring_dropped,
    (const void *)ec_framing_encode, (const void *)ec_deframer_init,
    (const void *)ec_deframer_feed, (const void *)ec_config_decode,
    (const void *)ec_session_apply_config, (const void *)ec_topic_build,
    (const void *)ec_err_name,      (const void *)ec_outbox_send,
    (const void *)ec_outbox_drain,  (const void *)ec_report_apply_opts,
#ifdef WITH_PROVISION
    (const void *)ec_provision_init, (const void *)ec_provision_feed,
    (const void *)ec_provision_paused, (const void *)ec_settings_load,
    (const void *)ec_settings_thresholds,
#endif
};

int main(void)
{
    return sink[0] != NULL;
}
