from council.search.indexer import reindex_all
from tests.factories import make_town

async def test_dump(client, session):
    await make_town(session)
    await reindex_all(session)
    await session.commit()
    r = await client.get("/suche", params={"q": "Radwege saniert or Landstraße", "art": ["vorlage", "dokument"]})
    open("/tmp/search_page.html", "w").write(r.text)
    r = await client.get("/suche", params={"q": "Radweg"}, headers={"HX-Request": "true"})
    open("/tmp/search_partial.html", "w").write(r.text)
