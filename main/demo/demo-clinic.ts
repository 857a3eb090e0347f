/**
 * The demo clinic behind `npm start -- --demo`: a throwaway clinic filled through the real API
 * pipeline (so every record is validated and audited like a real one) with a few users per
 * role and a few thousand synthetic patients, a third with medical histories. Nothing here is
 * real patient data; the data directory is a fresh temporary folder.
 */
import type { ClinicCore } from '../core/clinic-core.js';
import type { ChannelInput, ChannelName, ChannelOutput } from '../../shared/api/registry.js';
import { generatePatients } from './synthetic-patients.js';

/** The demo's sign-in names and passwords, printed for the person trying it out. */
export const DEMO_USERS = [
  { username: 'admin', displayName: 'Asha Admin', role: 'Admin', password: 'Demo-Clinic-Owner-2026' },
  { username: 'dr.mehta', displayName: 'Dr. Kavya Mehta', role: 'Dentist', password: 'Demo-Molar-Crown-2026' },
  { username: 'frontdesk', displayName: 'Ravi Front Desk', role: 'Receptionist', password: 'Demo-Appointment-2026' },
  { username: 'assistant', displayName: 'Meera Assistant', role: 'Staff', password: 'Demo-Suction-Tray-2026' },
] as const;

/** One caller of the core with its own session, as a transport would hold it. */
class DemoCaller {
  private token: string | undefined;

  constructor(private readonly core: ClinicCore) {}

  async call<K extends ChannelName>(channel: K, input: ChannelInput<K>): Promise<ChannelOutput<K>> {
    const result = await this.core.invoke(channel, input, { sessionToken: this.token, source: 'demo' });
    if (result.effects.session) this.token = result.effects.session.token;
    if (!result.ok) throw new Error(`demo setup failed at ${channel}: ${result.error.code} ${result.error.message}`);
    return result.output as ChannelOutput<K>;
  }
}

/** Fills a new clinic; reports progress as (done, total) patients. */
export async function populateDemoClinic(
  core: ClinicCore,
  options: { patients: number; seed?: string; onProgress?: (done: number, total: number) => void },
): Promise<void> {
  const [admin, ...staff] = DEMO_USERS;
  const owner = new DemoCaller(core);
  const setup = await owner.call('setup.createClinic', {
    clinicName: 'Chairside Demo Dental',
    branchName: 'Indiranagar',
    admin: { username: admin.username, displayName: admin.displayName, password: admin.password },
  });
  await owner.call('auth.signIn', { username: admin.username, password: admin.password });
  for (const user of staff) {
    await owner.call('users.create', {
      username: user.username,
      displayName: user.displayName,
      role: user.role,
      branchIds: [setup.branchId],
      password: user.password,
    });
  }
  const dentist = new DemoCaller(core);
  const dentistUser = DEMO_USERS[1];
  await dentist.call('auth.signIn', { username: dentistUser.username, password: dentistUser.password });
  const patients = generatePatients(options.patients, options.seed ?? 'chairside-demo', Date.UTC(2024, 0, 1));
  for (const [index, patient] of patients.entries()) {
    const created = await dentist.call('patients.create', {
      branchId: setup.branchId,
      firstName: patient.firstName,
      lastName: patient.lastName,
      dateOfBirth: patient.dateOfBirth,
      sex: patient.sex,
      phone: patient.phone,
      email: patient.email,
    });
    if (patient.medical) {
      await dentist.call('patients.updateMedicalHistory', { patientId: created.id, ...patient.medical });
    }
    if ((index + 1) % 250 === 0 || index + 1 === patients.length) options.onProgress?.(index + 1, patients.length);
  }
}
