/* Bare-metal start for the C core's tests on QEMU mps2-an386 (Cortex-M4).
 *
 * The vector table gives the initial stack and the reset handler; the handler turns
 * on the FPU (hard-float builds), zeroes .bss, opens newlib's semihosting stdio
 * (--specs=rdimon.specs) and exits with main's status. Semihosting SYS_EXIT carries
 * that status to QEMU's own exit code, so a failing test fails `make qemu-test`.
 * A fault of any kind exits with status 3 (never hangs).
 */
#include <stdint.h>
#include <stdlib.h>

extern int main(void);
extern void initialise_monitor_handles(void);
extern uint32_t __bss_start__[], __bss_end__[], __stack_top[];

void ec_reset_handler(void);
void ec_fault_handler(void);
void _init(void);
void _fini(void);

/* newlib's init/fini array walkers call these (crti.o is left out by -nostartfiles) */
void _init(void) {}
void _fini(void) {}

void ec_fault_handler(void)
{
    _Exit(3);
}

void ec_reset_handler(void)
{
    uint32_t *p;
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU) before any float instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (p = __bss_start__; p < __bss_end__; p++) {
        *p = 0;
    }
    initialise_monitor_handles();
    exit(main());
}

__attribute__((section(".vectors"), used)) static void (*const ec_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, ec_reset_handler,
    ec_fault_handler, /* NMI */
    ec_fault_handler, /* HardFault */
    ec_fault_handler, /* MemManage */
    ec_fault_handler, /* BusFault */
    ec_fault_handler, /* UsageFault */
};
