import { audit } from "../audit";
import type { Database } from "../db/client";
import type { HostingService } from "../hosting/service";
import { withJobs } from "../jobs/enqueue";
import type { Wakeups } from "../jobs/wakeups";
import { SYSTEM_ACTOR } from "./fulfilment";
import { addDays } from "./periods";
import { RUN_LOCKS, withRunLock } from "./runs";

/** What a dunning step does to an unpaid invoice's subscription. */
export type DunningAction = "reminder" | "suspend" | "terminate";

/** One step of the schedule: `days` after the due date, do `action`. */
export interface DunningStep {
  days: number;
  action: DunningAction;
}

/** Parses `MPANEL_DUNNING_SCHEDULE` ("1:reminder,3:reminder,7:suspend,30:terminate") into steps by day; throws on a malformed entry. */
export function parseDunningSchedule(spec: string): DunningStep[] {
  return spec.split(",").map((entry) => {
    const [days, action] = entry.trim().split(":");
    if (!days || !/^\d+$/.test(days) || (action !== "reminder" && action !== "suspend" && action !== "terminate")) throw new Error(`bad dunning step ${entry}`);
    return { days: Number(days), action } satisfies DunningStep;
  }).sort((a, b) => a.days - b.days);
}

/** A step taken: which invoice, which step (index into the schedule) and its action; the caller sends the email. */
export interface DunningEvent {
  invoiceId: string;
  step: number;
  action: DunningAction;
}

/**
 * The dunning run at `now`, under an advisory lock: every open invoice past its due date walks
 * the schedule, each step once (the invoice's `dunning_step` moves in the step's transaction,
 * guarded by a row lock). The first step makes the subscription `past_due`; `suspend` suspends
 * its CloudPod (SUSPEND_CLOUDPOD: the sites answer the suspended page, mail keeps receiving);
 * `terminate` ends the subscription and deletes the CloudPod. Returns the steps taken, or null
 * when another run held the lock.
 */
export async function runDunning(deps: { db: Database; wakeups: Wakeups; hosting: HostingService; schedule: readonly DunningStep[] }, now: Date): Promise<DunningEvent[] | null> {
  return withRunLock(deps.db.pool, RUN_LOCKS.dunning, async () => {
    const events: DunningEvent[] = [];
    const overdue = await deps.db.prisma.billingInvoice.findMany({
      where: { kind: "invoice", status: "open", dueAt: { lt: now }, dunningStep: { lt: deps.schedule.length } },
      orderBy: { dueAt: "asc" }, select: { id: true },
    });
    for (const { id } of overdue) {
      for (;;) {
        const event = await withJobs(deps.db, deps.wakeups, async (tx, enqueue) => {
          await tx.$queryRaw`SELECT id FROM billing_invoices WHERE id = ${id}::uuid FOR UPDATE`;
          const invoice = await tx.billingInvoice.findUniqueOrThrow({ where: { id } });
          const step = deps.schedule[invoice.dunningStep];
          if (invoice.status !== "open" || !step || addDays(invoice.dueAt, step.days) > now) return null;
          const requestId = `dunning:${id}:${invoice.dunningStep}`;
          await tx.billingInvoice.update({ where: { id }, data: { dunningStep: invoice.dunningStep + 1 } });
          const sub = invoice.subscriptionId ? await tx.billingSubscription.findUnique({ where: { id: invoice.subscriptionId } }) : null;
          const log = (action: "SUBSCRIPTION_PAST_DUE" | "SUBSCRIPTION_SUSPENDED" | "SUBSCRIPTION_TERMINATED") =>
            audit(tx, { action, targetType: "subscription", targetId: sub?.id ?? null, tenantId: invoice.tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { invoice: invoice.number, step: invoice.dunningStep } });
          if (sub && sub.status === "active") {
            await tx.billingSubscription.update({ where: { id: sub.id }, data: { status: "past_due" } });
            await log("SUBSCRIPTION_PAST_DUE");
          }
          if (sub && step.action === "suspend" && sub.status !== "suspended" && sub.status !== "terminated") {
            await tx.billingSubscription.update({ where: { id: sub.id }, data: { status: "suspended" } });
            if (sub.cloudPodId) await deps.hosting.setSuspendedIn(tx, enqueue, SYSTEM_ACTOR, sub.cloudPodId, true, requestId);
            await log("SUBSCRIPTION_SUSPENDED");
          }
          if (sub && step.action === "terminate" && sub.status !== "terminated") {
            await tx.billingSubscription.update({ where: { id: sub.id }, data: { status: "terminated" } });
            if (sub.cloudPodId) await deps.hosting.deleteCloudPodIn(tx, enqueue, SYSTEM_ACTOR, sub.cloudPodId, requestId);
            await log("SUBSCRIPTION_TERMINATED");
          }
          if (step.action === "reminder") await audit(tx, { action: "DUNNING_REMINDER_SENT", targetType: "invoice", targetId: id, tenantId: invoice.tenantId, actorUserId: SYSTEM_ACTOR.userId, requestId, data: { step: invoice.dunningStep } });
          return { invoiceId: id, step: invoice.dunningStep, action: step.action } satisfies DunningEvent;
        });
        if (!event) break;
        events.push(event);
      }
    }
    return events;
  });
}
