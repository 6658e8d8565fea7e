// The bench's real page: rendered on the server for every request (no cache), from data made per
// request, as a product listing reading a database would be (without the database).
import { products } from './products.js';

export const dynamic = 'force-dynamic';

export default async function Catalog({ searchParams }) {
  const { page = '1' } = await searchParams;
  const items = products(Number(page) || 1);
  const total = items.reduce((sum, item) => sum + item.price * item.stock, 0);
  return (
    <main>
      <h1>Catalog, page {page}</h1>
      <p>
        {items.length} products, stock worth {total.toFixed(2)}, rendered at {new Date().toISOString()}
      </p>
      <table>
        <thead>
          <tr>
            <th>SKU</th>
            <th>Name</th>
            <th>Tags</th>
            <th>Price</th>
            <th>Stock</th>
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.sku}>
              <td>{item.sku}</td>
              <td>{item.name}</td>
              <td>{item.tags.join(', ')}</td>
              <td>{item.price.toFixed(2)}</td>
              <td>{item.stock}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
