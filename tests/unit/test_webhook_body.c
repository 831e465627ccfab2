/*
 * Suite `webhook_body`: the pure parts of the webhook sender (daemon/webhook.h):
 * the signature against RFC 4231's HMAC-SHA256 test vectors, and the bodies
 * (plain and through the adapters) for the same output.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "webhook.h"

Test(webhook_body, signature_matches_rfc_4231)
{
    char hex[65];
    webhook_sign("Jefe", "what do ya want for nothing?", 28, hex);
    cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 1: a key of twenty 0x0b bytes. */
    char key[21];
    memset(key, 0x0b, 20);
    key[20] = '\0';
    webhook_sign(key, "Hi There", 8, hex);
    cr_assert_str_eq(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static const char OUTPUT[] =
    "{\"job_id\":\"j-1\",\"client_id\":\"c-9\",\"created_at\":\"2026-03-02T10:00:00.000000Z\","
    "\"due_at\":\"2026-03-03T09:00:00.000000Z\",\"questions\":[\"q1\"],\"score\":null}";

Test(webhook_body, the_plain_body_wraps_the_output_byte_for_byte)
{
    jbuf_t b = JBUF_INIT;
    webhook_body(ADAPTER_NONE, "job.nps_survey", OUTPUT, strlen(OUTPUT), &b);
    char want[512];
    snprintf(want, sizeof want, "{\"topic\":\"job.nps_survey\",\"data\":%s}", OUTPUT);
    cr_assert_str_eq(b.data, want);
    jbuf_free(&b);
}

Test(webhook_body, adapters_leave_out_what_the_crm_cannot_take)
{
    jbuf_t b = JBUF_INIT;
    /* No assignee, a client id that is not a number: amoCRM gets no user and
     * no card; arrays and nulls are not described. */
    webhook_body(ADAPTER_AMOCRM, "job.nps_survey", OUTPUT, strlen(OUTPUT), &b);
    cr_assert_str_eq(b.data, "[{\"text\":\"NPS survey: client c-9\\u000aretentiond job.nps_survey"
                             "\\u000ajob_id: j-1\\u000aclient_id: c-9\\u000acreated_at: "
                             "2026-03-02T10:00:00.000000Z\\u000adue_at: "
                             "2026-03-03T09:00:00.000000Z\\u000a\",\"complete_till\":1772528400,"
                             "\"task_type_id\":1,\"request_id\":\"j-1\"}]");
    jbuf_reset(&b);
    webhook_body(ADAPTER_BITRIX24, "job.nps_survey", OUTPUT, strlen(OUTPUT), &b);
    cr_assert(strstr(b.data, "RESPONSIBLE_ID") == NULL, "%s", b.data);
    cr_assert(strstr(b.data, "\"DEADLINE\":\"2026-03-03T09:00:00+00:00\"") != NULL, "%s", b.data);
    /* A body that is not an object goes out plain. */
    jbuf_reset(&b);
    webhook_body(ADAPTER_BITRIX24, "x", "[1]", 3, &b);
    cr_assert_str_eq(b.data, "{\"topic\":\"x\",\"data\":[1]}");
    jbuf_free(&b);
}
