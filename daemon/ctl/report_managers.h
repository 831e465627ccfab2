/*
 * report_managers: `retentionctl report managers [--month YYYY-MM]`, per
 * person and in total: the standing figures (clients, orders in the last 30
 * days, reactivation episodes and conversion, tasks, gift alerts, NPS) and
 * the month's KPIs of contract V2 (month_orders, repeat_order_rate,
 * orders_per_client, new_clients, active_clients, lost_clients, churn_rate).
 * Returns as report.h says.
 */
#ifndef RD_REPORT_MANAGERS_H
#define RD_REPORT_MANAGERS_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"
#include "out.h"

/*
 * Prints the managers report. month is "YYYY-MM" (a calendar month in
 * rules.calendar.timezone, validated by the caller) or NULL for the month of
 * now (the event clock with clock: event, else the wall clock; before the
 * first clock.tick there is no month and the KPIs are null).
 *
 * Crediting (docs/commands.md): clients, episodes and NPS answers go to the
 * client's account manager now (master data, else from its orders, else
 * "(none)"); tasks, gift alerts and follow-ups to the person each was
 * assigned to; order figures (month_orders, repeat_order_rate,
 * orders_per_client, new_clients) to the account manager at the time of the
 * order (orders.account_manager_id); active and lost clients to the account
 * manager of the client's latest order before the instant counted.
 */
int report_managers(PGconn *db, const config_t *cfg, const char *month, out_t *out, char *err,
                    size_t errlen);

#endif
