import { useState } from "react";
import { api } from "../api";
import { useResource } from "../hooks";
import { Link, navigate } from "../router";
import { useArea } from "../session";
import type { DatabaseBody } from "../types";
import { Badge, Empty, FormError, Pending, PageHeader, Secret, SelectField, TextField, useConfirm, useForm, useToast, When } from "../ui";
import { CreatePanel, useReloadOnLive, useTenantChoice } from "./common";

type Engine = DatabaseBody["engine"];
const ENGINES: Array<{ value: Engine; label: string }> = [{ value: "mariadb", label: "MariaDB" }, { value: "postgresql", label: "PostgreSQL" }];

function AddDatabase({ onDone }: { onDone(): void }) {
  const toast = useToast();
  const form = useForm();
  const tenant = useTenantChoice(form);
  const [engine, setEngine] = useState<Engine>("mariadb");
  const [name, setName] = useState("");
  const submit = form.submit(async () => {
    await api.createDatabase({ tenantId: tenant.tenantId, engine, name });
    toast(`Database ${name} is being created`);
    setName("");
    onDone();
  });
  return (
    <CreatePanel title="New database">
      <form onSubmit={(e) => void submit(e)} aria-label="New database">
        {tenant.field}
        <SelectField form={form} name="engine" label="Engine" options={ENGINES} value={engine} onChange={(e) => setEngine(ENGINES.find((x) => x.value === e.target.value)?.value ?? "mariadb")} />
        <TextField form={form} name="name" label="Name" hint="letters, digits and _" required value={name} onChange={(e) => setName(e.target.value)} />
        <FormError form={form} />
        <button type="submit" className="primary" disabled={form.busy}>Create database</button>
      </form>
    </CreatePanel>
  );
}

/** Databases (MariaDB, PostgreSQL): list and create. */
export function DatabasesPage() {
  const { base } = useArea();
  const dbs = useResource(() => api.databases({ pageSize: 200 }), "databases");
  useReloadOnLive(dbs.reload);
  return (
    <>
      <PageHeader title="Databases" />
      <AddDatabase onDone={dbs.reload} />
      {dbs.data && (dbs.data.data.length === 0 ? <Empty title="No databases yet" /> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Name</th><th>Engine</th><th>Status</th><th>Created</th></tr></thead>
            <tbody>
              {dbs.data.data.map((d) => (
                <tr key={d.id}><td><Link to={`${base}/databases/${d.id}`}>{d.name}</Link></td><td>{d.engine}</td><td><Badge status={d.status} /></td><td><When at={d.createdAt} /></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </>
  );
}

/** One database: its users, a new user or a rotated password (shown once), delete (asks first). */
export function DatabasePage({ params }: { params: Record<string, string> }) {
  const id = params.id ?? "";
  const { base } = useArea();
  const confirm = useConfirm();
  const toast = useToast();
  const form = useForm();
  const [username, setUsername] = useState("");
  const [secret, setSecret] = useState<{ username: string; password: string } | null>(null);
  const db = useResource(() => api.database(id), id);
  useReloadOnLive(db.reload);
  if (!db.data) return <Pending resource={db} what="database" />;
  const d = db.data;
  const addUser = form.submit(async () => {
    const created = await api.createDatabaseUser(d.id, { username });
    setSecret({ username: created.user.username, password: created.password });
    setUsername("");
    db.reload();
  });
  const rotate = async (user: { id: string; username: string }): Promise<void> => {
    if (!(await confirm({ title: `New password for ${user.username}?`, body: "The current password stops working once the database server applies the new one.", action: "Rotate password" }))) return;
    await api.rotateDatabasePassword(d.id, user.id).then((r) => setSecret({ username: r.user.username, password: r.password }), (e: Error) => toast(e.message, "error"));
  };
  const remove = async (): Promise<void> => {
    if (!(await confirm({ title: `Delete database ${d.name}?`, body: "The database, its data and its users are dropped. This cannot be undone.", action: "Delete database" }))) return;
    await api.deleteDatabase(d.id).then(() => {
      toast(`Deleting ${d.name}`);
      navigate(`${base}/databases`);
    }, (e: Error) => toast(e.message, "error"));
  };
  return (
    <>
      <PageHeader title={d.name}>
        <Badge status={d.status} />
        <button type="button" className="danger" onClick={() => void remove()}>Delete database</button>
      </PageHeader>
      <p className="muted">{d.engine}</p>
      {secret && <Secret label={`Password of ${secret.username}`} value={secret.password} />}
      <form className="inline-form" onSubmit={(e) => void addUser(e)} aria-label="Add a database user">
        <TextField form={form} name="username" label="New user" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <button type="submit" className="primary" disabled={form.busy}>Add user</button>
        <FormError form={form} />
      </form>
      {d.users.length === 0 ? <Empty title="No users yet" /> : (
        <div className="table-wrap">
          <table>
            <thead><tr><th>User</th><th>Status</th><th>Password set</th><th><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {d.users.map((u) => (
                <tr key={u.id}><td>{u.username}</td><td><Badge status={u.status} /></td><td><When at={u.passwordSetAt} /></td>
                  <td><button type="button" onClick={() => void rotate(u)}>Rotate password</button></td></tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
