/*
 * Suite `journal`: journald fields on reject and decision logs (log.h,
 * log_fields; daemon/notify.c writes them with sd_journal_sendv).
 *
 * What is tested, honestly: the structured path up to the journal writer.
 * The daemon runs with JOURNAL_STREAM naming its standard error (the log
 * file), as systemd sets it (the harness passes RD_TEST_JOURNAL_STREAM on), and with
 * RD_LOG_JOURNAL_ECHO, which makes the writer print the fields it would send ("journal: PRIORITY=4
 * ... TOPIC=... MESSAGE=...") instead of calling sd_journal_sendv: the test machines have no
 * journald. The sd_journal_sendv call itself is not run here. Without JOURNAL_STREAM (or with one
 * that names another file) the plain lines stay as they were.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static harness_t h;

static void teardown(void)
{
    h_teardown(&h);
    unsetenv("RD_TEST_JOURNAL_STREAM");
    unsetenv("RD_LOG_JOURNAL_ECHO");
}

TestSuite(journal, .fini = teardown, .timeout = 120);

/* JOURNAL_STREAM for the daemon's standard error: the log file's DEV:INODE. */
static void journal_is_the_log(void)
{
    int fd = open(h.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    struct stat st;
    cr_assert(fstat(fd, &st) == 0);
    close(fd);
    char v[64];
    snprintf(v, sizeof v, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("RD_TEST_JOURNAL_STREAM", v, 1);
    setenv("RD_LOG_JOURNAL_ECHO", "1", 1);
}

Test(journal, a_reject_carries_topic_reason_and_source)
{
    h_setup(&h);
    journal_is_the_log();
    cr_assert(h_start(&h));
    h_send_router(&h, "order.created",
                  "{\"order_id\":\"o-1\",\"client_id\":\"c-1\",\"source\":\"erp-1\",\"seq\":1}");
    char verb[16], id[64], reason[256];
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason));
    cr_assert_str_eq(verb, "nack");
    cr_assert_eq(h_log_count(&h, "journal: PRIORITY=4 SYSLOG_IDENTIFIER=retentiond"
                                 " TOPIC=order.created REASON=missing_field SOURCE=erp-1"),
                 1, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "MESSAGE=rejected message on"), 1, "%s", h_log(&h));
    /* the entry went to the journal writer, not also as a plain line */
    cr_assert_eq(h_log_count(&h, "rejected message on"), 1, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
}

Test(journal, a_decision_carries_topic_reason_source_and_ids)
{
    h_setup(&h);
    h_write_config(&h, "model: { every_hours: 0 }\n", NULL);
    h_import_regulars(&h, 2);
    journal_is_the_log();
    cr_assert(h_start(&h));
    h_tick(&h, "2026-03-01T10:00:00Z");
    cr_assert(h_wait_sql(&h, "SELECT count(*) FROM outbox", "2"), "%s", h_log(&h));
    cr_assert(h_wait_sql(&h, "SELECT 1 FROM pg_sleep(0.3)", "1"));
    cr_assert_eq(h_log_count(&h, "journal: PRIORITY=6 SYSLOG_IDENTIFIER=retentiond"
                                 " TOPIC=task.reactivation REASON=missed_cycles"
                                 " SOURCE=reactivation CLIENT_ID=client-0000"),
                 2, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "MESSAGE=decision: task.reactivation"), 2, "%s", h_log(&h));
    cr_assert_eq(h_stop(&h), 0, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "runtime error"), 0, "%s", h_log(&h)); /* UBSan */
}

Test(journal, without_the_journal_the_lines_stay_plain)
{
    h_setup(&h);
    setenv("RD_LOG_JOURNAL_ECHO", "1", 1);
    setenv("RD_TEST_JOURNAL_STREAM", "1:1", 1); /* another file than the daemon's stderr */
    cr_assert(h_start(&h));
    h_send_router(&h, "order.created", "{\"order_id\":\"o-1\"}");
    char verb[16], id[64], reason[256];
    cr_assert(h_reply(&h, verb, sizeof verb, id, sizeof id, reason, sizeof reason));
    cr_assert_eq(h_log_count(&h, "journal:"), 0, "%s", h_log(&h));
    cr_assert_eq(h_log_count(&h, "<4>rejected message on"), 1, "%s", h_log(&h));
}
