import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Badge, Empty, FormError, PageHeader, SelectField, TextField, useConfirm, useForm, useToast } from "../ui";
import { CreatePanel, useReloadOnLive, useTenantChoice } from "./common";

const MIB = 1024 * 1024;

function AddMailDomain({ onDone }: { onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const tenant = useTenantChoice(form);
  const [domain, setDomain] = useState("");
  const submit = form.submit(async () => {
    await api.createMailDomain({ tenantId: tenant.tenantId, domain });
    toast(`Email for ${domain} is being set up`);
    setDomain("");
    onDone();
  });
  return (
    <CreatePanel title="Add email to a domain">
      <form onSubmit={(e) => void submit(e)} aria-label="Add a mail domain">
        {tenant.field}
        <TextField form={form} name="domain" label="Domain" hint="one of your domains" required value={domain} onChange={(e) => setDomain(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Add mail domain</button>
      </form>
    </CreatePanel>
  );
}

function AddMailbox({ domains, onDone }: { domains: Array<{ id: string; name: string }>; onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const [box, setBox] = useState({ mailDomainId: "", localPart: "", password: "", quotaMiB: "0" });
  const mailDomainId = box.mailDomainId || domains[0]?.id || "";
  const submit = form.submit(async () => {
    await api.createMailbox({ mailDomainId, localPart: box.localPart, password: box.password, quotaBytes: Math.round(Number(box.quotaMiB) * MIB) });
    toast(`Mailbox ${box.localPart} is being created`);
    setBox({ ...box, localPart: "", password: "" });
    onDone();
  });
  return (
    <CreatePanel title="Add a mailbox">
      <form onSubmit={(e) => void submit(e)} aria-label="Add a mailbox">
        <SelectField form={form} name="mailDomainId" label="Domain" options={domains.map((d) => ({ value: d.id, label: d.name }))} value={mailDomainId} onChange={(e) => setBox({ ...box, mailDomainId: e.target.value })} />
        <TextField form={form} name="localPart" label="Address (before the @)" required value={box.localPart} onChange={(e) => setBox({ ...box, localPart: e.target.value })} />
        <TextField form={form} name="password" label="Password" type="password" autoComplete="new-password" hint="at least 10 characters" required value={box.password} onChange={(e) => setBox({ ...box, password: e.target.value })} />
        <TextField form={form} name="quotaBytes" label="Quota (MiB, 0 = unlimited)" type="number" min={0} value={box.quotaMiB} onChange={(e) => setBox({ ...box, quotaMiB: e.target.value })} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy || domains.length === 0}>Add mailbox</button>
      </form>
    </CreatePanel>
  );
}

/** Email: mail domains and mailboxes; delete a mailbox (asks first). */
export function EmailPage() {
  const confirm = useConfirm();
  const toast = useToast();
  const mail = useResource(async () => {
    const [domains, boxes] = await Promise.all([api.mailDomains({ pageSize: 200 }), api.mailboxes({ pageSize: 200 })]);
    return { domains: domains.data, boxes: boxes.data };
  }, "mail");
  useReloadOnLive(mail.reload);
  const remove = async (box: { id: string; address: string }): Promise<void> => {
    if (!(await confirm({ title: `Delete ${box.address}?`, body: "The mailbox and all its mail are deleted on the mail server.", action: "Delete mailbox" }))) return;
    await api.deleteMailbox(box.id).then(() => toast(`Deleting ${box.address}`), (e: Error) => toast(e.message, "error"));
    mail.reload();
  };
  return (
    <>
      <PageHeader title="Email" />
      <AddMailDomain onDone={mail.reload} />
      {mail.data && (
        <>
          <AddMailbox domains={mail.data.domains} onDone={mail.reload} />
          <h2>Mail domains</h2>
          {mail.data.domains.length === 0 ? <Empty title="No mail domains yet" /> : (
            <ul className="plain">{mail.data.domains.map((d) => <li key={d.id}>{d.name} <Badge status={d.status} /></li>)}</ul>
          )}
          <h2>Mailboxes</h2>
          {mail.data.boxes.length === 0 ? <Empty title="No mailboxes yet" /> : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Address</th><th>Status</th><th>Quota</th><th><span className="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {mail.data.boxes.map((b) => (
                    <tr key={b.id}>
                      <td>{b.address}</td><td><Badge status={b.suspended ? "suspended" : b.status} /></td>
                      <td>{Number(b.quotaBytes) === 0 ? "unlimited" : `${Math.round(Number(b.quotaBytes) / MIB)} MiB`}</td>
                      <td><button type="button" className="danger-quiet" onClick={() => void remove(b)}>Delete</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </>
  );
}
