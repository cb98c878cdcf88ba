/* Calls clock_gettime(CLOCK_MONOTONIC) 5,000,000 times (issue 18's clock benchmark);
 * built for wasm32-wasi and natively by benches/host_clock.sh. Prints how many
 * readings went backwards (0) so that the loop cannot be optimized away. */
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec ts;
    long long last = 0, backwards = 0;
    for (int i = 0; i < 5000000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        backwards += now < last;
        last = now;
    }
    printf("%lld\n", backwards);
    return 0;
}
