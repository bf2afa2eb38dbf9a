// The floor of TLS bulk cost with OpenSSL 3 through memory BIOs, no sockets, one thread:
// a client and a server SSL in one process, TLS 1.3, 1 MiB written in 16 KiB pieces by the
// client and read by the server, bytes moved between them by memcpy. What this costs is the
// least a TLS handler built on OpenSSL's memory BIOs can cost; compare the TLSBenchmark rows.
//
//   cc -O2 Benchmarks/tools/openssl-floor.c -o /tmp/openssl-floor -lssl -lcrypto
//   /tmp/openssl-floor Fixtures/tls [AES-128 | AES-256]
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pump(BIO *from, BIO *to, char *scratch, size_t size) {
    int n;
    while ((n = BIO_read(from, scratch, (int)size)) > 0) BIO_write(to, scratch, n);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FIXTURES_TLS_DIR [AES-128|AES-256]\n", argv[0]); return 2; }
    char path[4096];
    const char *suite = (argc > 2 && strcmp(argv[2], "AES-128") == 0) ? "TLS_AES_128_GCM_SHA256" : "TLS_AES_256_GCM_SHA384";
    SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    snprintf(path, sizeof path, "%s/server.pem", argv[1]);
    if (SSL_CTX_use_certificate_chain_file(server_ctx, path) != 1) { ERR_print_errors_fp(stderr); return 1; }
    snprintf(path, sizeof path, "%s/server.key", argv[1]);
    if (SSL_CTX_use_PrivateKey_file(server_ctx, path, SSL_FILETYPE_PEM) != 1) { ERR_print_errors_fp(stderr); return 1; }
    SSL_CTX_set_ciphersuites(server_ctx, suite);
    SSL_CTX_set_ciphersuites(client_ctx, suite);
    SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
    BIO *server_in = BIO_new(BIO_s_mem()), *server_out = BIO_new(BIO_s_mem());
    BIO *client_in = BIO_new(BIO_s_mem()), *client_out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(server_in, -1);
    BIO_set_mem_eof_return(client_in, -1);
    SSL_set_bio(server, server_in, server_out);
    SSL_set_bio(client, client_in, client_out);
    SSL_set_accept_state(server);
    SSL_set_connect_state(client);
    static char scratch[1 << 17], plain[1 << 14], sink[1 << 14];
    memset(plain, 'z', sizeof plain);
    for (int round = 0; round < 10 && !(SSL_is_init_finished(client) && SSL_is_init_finished(server)); round++) {
        SSL_do_handshake(client);
        pump(client_out, server_in, scratch, sizeof scratch);
        SSL_do_handshake(server);
        pump(server_out, client_in, scratch, sizeof scratch);
    }
    if (!SSL_is_init_finished(client)) { fprintf(stderr, "handshake failed\n"); ERR_print_errors_fp(stderr); return 1; }
    const int mebibytes = 2000;
    double start = now();
    for (int m = 0; m < mebibytes; m++) {
        for (int piece = 0; piece < (1 << 20) / (int)sizeof plain; piece++) {
            if (SSL_write(client, plain, sizeof plain) <= 0) { fprintf(stderr, "write failed\n"); return 1; }
            pump(client_out, server_in, scratch, sizeof scratch);
            while (SSL_read(server, sink, sizeof sink) > 0) {}
        }
    }
    double seconds = now() - start;
    printf("%s, %s: %.0f MiB/s (%.0f us per MiB), encrypt + decrypt on one core\n",
           OpenSSL_version(OPENSSL_VERSION), SSL_get_cipher(client), mebibytes / seconds, seconds / mebibytes * 1e6);
    return 0;
}
