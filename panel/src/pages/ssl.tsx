import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Badge, Empty, FormError, PageHeader, SelectField, useForm, useToast, When } from "../ui";
import { CreatePanel, useReloadOnLive } from "./common";

/** TLS certificates: status, expiry, renewal; request one for a website. */
export function SslPage() {
  const toast = useToast();
  const form = useForm();
  const [websiteId, setWebsiteId] = useState("");
  const ssl = useResource(async () => {
    const [certificates, sites] = await Promise.all([api.certificates({ pageSize: 200 }), api.websites({ pageSize: 200 })]);
    return { certificates: certificates.data, sites: sites.data };
  }, "ssl");
  useReloadOnLive(ssl.reload);
  const chosen = websiteId || ssl.data?.sites[0]?.id || "";
  const submit = form.submit(async () => {
    await api.requestCertificate({ websiteId: chosen });
    toast("Certificate requested");
    ssl.reload();
  });
  const renew = async (id: string): Promise<void> => {
    await api.renewCertificate(id).then(() => toast("Renewal requested"), (e: Error) => toast(e.message, "error"));
    ssl.reload();
  };
  return (
    <>
      <PageHeader title="SSL certificates" />
      {ssl.data && (
        <>
          <CreatePanel title="Request a certificate">
            <form onSubmit={(e) => void submit(e)} aria-label="Request a certificate">
              <SelectField form={form} name="websiteId" label="Website" options={ssl.data.sites.map((s) => ({ value: s.id, label: s.domain }))} value={chosen} onChange={(e) => setWebsiteId(e.target.value)} />
              <FormError form={form} />
              <button type="submit" className="primary" disabled={form.busy || !chosen}>Request certificate</button>
            </form>
          </CreatePanel>
          {ssl.data.certificates.length === 0 ? <Empty title="No certificates yet" /> : (
            <div className="table-wrap">
              <table>
                <thead><tr><th>Names</th><th>Status</th><th>Expires</th><th>Issuer</th><th><span className="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  {ssl.data.certificates.map((c) => (
                    <tr key={c.id}>
                      <td className="wrap">{c.domains.join(", ")}</td><td><Badge status={c.status} /></td><td><When at={c.notAfter} /></td>
                      <td>{c.issuer ?? "—"}</td>
                      <td><button type="button" onClick={() => void renew(c.id)}>Renew</button></td>
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
