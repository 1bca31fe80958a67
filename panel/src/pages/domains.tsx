import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link, navigate } from "../router";
import { useArea } from "../session";
import type { DnsRecord, RecordBody } from "../types";
import { Badge, CheckField, Empty, FormError, Pending, PageHeader, SelectField, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel, useReloadOnLive, useTenantChoice } from "./common";

type RecordType = RecordBody["type"];
const RECORD_TYPES: RecordType[] = ["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS"];

function AddDomain({ onDone }: { onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const tenant = useTenantChoice(form);
  const [name, setName] = useState("");
  const [dns, setDns] = useState(true);
  const submit = form.submit(async () => {
    await api.createDomain({ tenantId: tenant.tenantId, name, dns });
    toast(`Domain ${name} added`);
    setName("");
    onDone();
  });
  return (
    <CreatePanel title="Add a domain">
      <form onSubmit={(e) => void submit(e)} aria-label="Add a domain">
        {tenant.field}
        <TextField form={form} name="name" label="Domain" placeholder="example.com" required value={name} onChange={(e) => setName(e.target.value)} />
        <CheckField name="dns" label="Host its DNS zone here" checked={dns} onChange={setDns} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Add domain</button>
      </form>
    </CreatePanel>
  );
}

/** Domains: add (with or without a hosted zone), open one to edit its DNS records. */
export function DomainsPage() {
  const { base } = useArea();
  const domains = useResource(() => api.domains({ pageSize: 200 }), "domains");
  useReloadOnLive(domains.reload);
  return (
    <>
      <PageHeader title="Domains & DNS" />
      <AddDomain onDone={domains.reload} />
      {domains.data && (domains.data.data.length === 0 ? <Empty title="No domains yet">Add one above, or order a CloudPod: its domain comes with a zone.</Empty> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Domain</th><th>Status</th><th>Added</th></tr></thead>
            <tbody>
              {domains.data.data.map((d) => (
                <tr key={d.id}><td><Link to={`${base}/domains/${d.id}`}>{d.name}</Link></td><td><Badge status={d.status} /></td><td><When at={d.createdAt} /></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}

function AddRecord({ domainId, onDone }: { domainId: string; onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const [record, setRecord] = useState<{ name: string; type: RecordType; content: string; ttl: string }>({ name: "", type: "A", content: "", ttl: "3600" });
  const submit = form.submit(async () => {
    await api.createRecord(domainId, { name: record.name || "@", type: record.type, content: record.content, ttl: Number(record.ttl) });
    toast(`${record.type} record added`);
    setRecord({ ...record, name: "", content: "" });
    onDone();
  });
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="Add a DNS record">
      <TextField form={form} name="name" label="Name" placeholder="@ or www" value={record.name} onChange={(e) => setRecord({ ...record, name: e.target.value })} />
      <SelectField form={form} name="type" label="Type" options={RECORD_TYPES.map((t) => ({ value: t, label: t }))} value={record.type} onChange={(e) => setRecord({ ...record, type: RECORD_TYPES.find((t) => t === e.target.value) ?? "A" })} />
      <TextField form={form} name="content" label="Content" required value={record.content} onChange={(e) => setRecord({ ...record, content: e.target.value })} />
      <TextField form={form} name="ttl" label="TTL (s)" type="number" value={record.ttl} onChange={(e) => setRecord({ ...record, ttl: e.target.value })} />
      <button type="submit" className="primary" disabled={form.busy}>Add record</button>
      <FormError form={form} />
    </form>
  );
}

/** One domain: its zone's records (managed ones read-only), add and delete (asks first), delete the domain. */
export function DomainPage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { base } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const domain = useResource(() => api.domain(id), id);
  useReloadOnLive(domain.reload);
  if (!domain.data) return <Pending resource={domain} what="domain" />;
  const d = domain.data;
  const removeRecord = async (r: DnsRecord): Promise<void> => {
    if (!(await confirm({ title: `Delete ${r.type} ${r.name}?`, body: `The record ${r.name} ${r.type} ${r.content} is removed from the zone.`, action: "Delete record" }))) return;
    await api.deleteRecord(d.id, r.id).then(() => toast("Record deleted"), (e: Error) => toast(e.message, "error"));
    domain.reload();
  };
  const removeDomain = async (): Promise<void> => {
    if (!(await confirm({ title: `Delete ${d.name}?`, body: "The domain and its DNS zone are removed.", action: "Delete domain" }))) return;
    await api.deleteDomain(d.id).then(() => {
      toast(`Deleting ${d.name}`);
      navigate(`${base}/domains`);
    }, (e: Error) => toast(e.message, "error"));
  };
  return (
    <>
      <PageHeader title={d.name}>
        <Badge status={d.status} />
        <button type="button" className="danger" onClick={() => void removeDomain()}>Delete domain</button>
      </PageHeader>
      <h2>DNS records</h2>
      {!d.zone ? <Empty title="This domain's DNS is hosted elsewhere" /> : (
        <>
          <AddRecord domainId={d.id} onDone={domain.reload} />
          {d.records.length === 0 ? <Empty title="No records yet" /> : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Name</th><th>Type</th><th>Content</th><th>TTL</th><th><span className="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {d.records.map((r) => (
                    <tr key={r.id}>
                      <td><code>{r.name}</code></td><td>{r.type}</td><td className="wrap"><code>{r.content}</code></td><td>{r.ttl}</td>
                      <td>{r.managed ? <span className="muted">managed</span> : <button type="button" className="danger-quiet" onClick={() => void removeRecord(r)}>Delete</button>}</td>
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
