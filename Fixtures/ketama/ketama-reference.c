/*
 * Prints, for each key read from standard input (one per line), the server that
 * libmemcached's libketama-compatible placement (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) picks.
 * Servers are the arguments, as host:port or host:port:weight (weight 1 when left out). The
 * tests compare KetamaRing and MemcacheServerSet against it.
 *
 *   cc ketama-reference.c -o ketama-reference $(pkg-config --cflags --libs libmemcached)
 *   printf 'a\nb\n' | ./ketama-reference 127.0.0.1:11211 127.0.0.1:11212:3
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    memcached_st *memc = memcached_create(NULL);
    if (memc == NULL) return 1;
    if (memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1) != MEMCACHED_SUCCESS) return 2;
    for (int i = 1; i < argc; i++) {
        char host[256];
        strncpy(host, argv[i], sizeof(host) - 1);
        host[sizeof(host) - 1] = 0;
        char *colon = strchr(host, ':');
        if (colon == NULL) return 3;
        *colon = 0;
        char *port = colon + 1;
        uint32_t weight = 1;
        char *second = strchr(port, ':');
        if (second != NULL) {
            *second = 0;
            weight = (uint32_t)atoi(second + 1);
        }
        if (memcached_server_add_with_weight(memc, host, (in_port_t)atoi(port), weight) != MEMCACHED_SUCCESS) return 4;
    }
    char line[1024];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t length = strcspn(line, "\r\n");
        line[length] = 0;
        uint32_t index = memcached_generate_hash(memc, line, length);
        const memcached_instance_st *server = memcached_server_instance_by_position(memc, index);
        printf("%s:%u\n", memcached_server_name(server), (unsigned)memcached_server_port(server));
    }
    memcached_free(memc);
    return 0;
}
