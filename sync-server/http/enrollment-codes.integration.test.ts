/**
 * `POST /v1/devices/enrollment-codes`: an enrolled device makes a one-time code for another
 * device of its own clinic, only for a user the server's directory knows as an Admin.
 */
import { expect, it } from 'vitest';
import {
  TestDevice,
  describeEachStorage,
  enrolledDevice,
  seedDirectoryUser,
} from '../../test/support/sync-server/test-support.js';

describeEachStorage('device-made enrollment codes', (setup) => {
  it('makes a one-time code for the token clinic, for an Admin only', async () => {
    const server = await setup();
    const { token, clinicId } = await enrolledDevice(server, 'Alpha Dental', 'alpha-device-1');
    await seedDirectoryUser(server, clinicId, 'admin-user-1', 'Admin');
    await seedDirectoryUser(server, clinicId, 'dentist-user-1', 'Dentist');

    const refusedRole = await server.call('POST', '/v1/devices/enrollment-codes', {
      token,
      body: { userId: 'dentist-user-1' },
    });
    expect(refusedRole.statusCode).toBe(403);
    const refusedUnknown = await server.call('POST', '/v1/devices/enrollment-codes', {
      token,
      body: { userId: 'nobody-1' },
    });
    expect(refusedUnknown.statusCode).toBe(403);
    expect(
      (await server.call('POST', '/v1/devices/enrollment-codes', { body: { userId: 'admin-user-1' } })).statusCode,
    ).toBe(401);
    // A forged clinic id in the body is not part of the request's schema.
    expect(
      (
        await server.call('POST', '/v1/devices/enrollment-codes', {
          token,
          body: { userId: 'admin-user-1', clinicId: 'other-clinic' },
        })
      ).statusCode,
    ).toBe(400);

    const made = await server.call('POST', '/v1/devices/enrollment-codes', { token, body: { userId: 'admin-user-1' } });
    expect(made.statusCode).toBe(200);
    const { code, expiresAt } = made.json() as { code: string; expiresAt: number };
    expect(expiresAt).toBeGreaterThan(server.clock.now());
    const store = await server.storage.clinic(clinicId);
    expect((await store.listEnrollmentCodes()).some((record) => record.createdBy === 'admin-user-1')).toBe(true);

    const second = new TestDevice(server, 'alpha-device-2');
    const enrolled = await second.enroll(code);
    expect(enrolled.statusCode).toBe(200);
    expect(enrolled.json()).toMatchObject({ clinicId, clinicName: 'Alpha Dental', deviceId: 'alpha-device-2' });
    // One-time.
    expect((await new TestDevice(server, 'alpha-device-3').enroll(code)).statusCode).toBe(403);
  });
});
