// The floor of TLS cost with OpenSSL 3 through memory BIOs, no sockets, one thread: a client
// and a server SSL in one process, bytes moved between them by memcpy.
//  - bulk: TLS 1.3, 1 MiB written in 16 KiB pieces by the client and read by the server;
//  - handshakes: full TLS 1.3 handshakes, the client verifying the server's certificate
//    against the test CA and its host name, as the TLSBenchmark's handshake does.
// What this costs is the least a TLS handler built on OpenSSL can cost; compare the
// TLSBenchmark rows.
//
//   cc -O2 Benchmarks/tools/openssl-floor.c -o /tmp/openssl-floor -lssl -lcrypto
//   /tmp/openssl-floor Fixtures/tls [AES-128 | AES-256]
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char scratch[1 << 17];

static void pump(BIO *from, BIO *to) {
    int n;
    while ((n = BIO_read(from, scratch, (int)sizeof scratch)) > 0) BIO_write(to, scratch, n);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct pair { SSL *client, *server; BIO *client_in, *client_out, *server_in, *server_out; };

static int connect_pair(SSL_CTX *client_ctx, SSL_CTX *server_ctx, struct pair *p) {
    p->server = SSL_new(server_ctx);
    p->client = SSL_new(client_ctx);
    SSL_set1_host(p->client, "localhost");
    p->server_in = BIO_new(BIO_s_mem()); p->server_out = BIO_new(BIO_s_mem());
    p->client_in = BIO_new(BIO_s_mem()); p->client_out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->server_in, -1);
    BIO_set_mem_eof_return(p->client_in, -1);
    SSL_set_bio(p->server, p->server_in, p->server_out);
    SSL_set_bio(p->client, p->client_in, p->client_out);
    SSL_set_accept_state(p->server);
    SSL_set_connect_state(p->client);
    for (int round = 0; round < 10 && !(SSL_is_init_finished(p->client) && SSL_is_init_finished(p->server)); round++) {
        SSL_do_handshake(p->client);
        pump(p->client_out, p->server_in);
        SSL_do_handshake(p->server);
        pump(p->server_out, p->client_in);
    }
    // The client reads the server's session tickets, as a real client's first read does.
    char byte;
    SSL_read(p->client, &byte, 1);
    return SSL_is_init_finished(p->client) && SSL_get_verify_result(p->client) == X509_V_OK;
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
    snprintf(path, sizeof path, "%s/ca.pem", argv[1]);
    if (SSL_CTX_load_verify_locations(client_ctx, path, NULL) != 1) { ERR_print_errors_fp(stderr); return 1; }
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(server_ctx, SSL_MODE_NO_AUTO_CHAIN);
    SSL_CTX_set_ciphersuites(server_ctx, suite);
    SSL_CTX_set_ciphersuites(client_ctx, suite);

    struct pair p;
    if (!connect_pair(client_ctx, server_ctx, &p)) { fprintf(stderr, "handshake failed\n"); ERR_print_errors_fp(stderr); return 1; }
    static char plain[1 << 14], sink[1 << 14];
    memset(plain, 'z', sizeof plain);
    const int mebibytes = 2000;
    double start = now();
    for (int m = 0; m < mebibytes; m++) {
        for (int piece = 0; piece < (1 << 20) / (int)sizeof plain; piece++) {
            if (SSL_write(p.client, plain, sizeof plain) <= 0) { fprintf(stderr, "write failed\n"); return 1; }
            pump(p.client_out, p.server_in);
            while (SSL_read(p.server, sink, sizeof sink) > 0) {}
        }
    }
    double seconds = now() - start;
    printf("%s, %s: %.0f MiB/s (%.0f us per MiB), encrypt + decrypt on one core\n",
           OpenSSL_version(OPENSSL_VERSION), SSL_get_cipher(p.client), mebibytes / seconds, seconds / mebibytes * 1e6);
    SSL_free(p.client);
    SSL_free(p.server);

    const int handshakes = 2000;
    start = now();
    for (int h = 0; h < handshakes; h++) {
        if (!connect_pair(client_ctx, server_ctx, &p)) { fprintf(stderr, "handshake failed\n"); ERR_print_errors_fp(stderr); return 1; }
        SSL_free(p.client);
        SSL_free(p.server);
    }
    seconds = now() - start;
    printf("%s, full TLS 1.3 handshakes (ECDSA P-256, client verifies): %.0f/s (%.0f us each), client + server on one core\n",
           OpenSSL_version(OPENSSL_VERSION), handshakes / seconds, seconds / handshakes * 1e6);
    return 0;
}
